// Preloaded into pm2-runtime (bin/plasmd: node --require): pm2's own messages ("App [x] online",
// restarts, stops) become JSON lines like every Phase process writes, so journald keeps one
// format. pm2 wraps console.* with a "<time> PM2 <level>: " prefix when it loads; that prefix is
// taken off here. The apps' own output is forwarded by pm2 untouched. `time` is ISO 8601, as the
// services' pino lines carry it (one time format in the whole journal).
'use strict'
const { format } = require('node:util')

const LEVELS = { debug: 20, log: 30, info: 30, warn: 40, error: 50 }
const PREFIX = /^\S+ PM2 (?:log|info|warn|error): /

for (const [method, level] of Object.entries(LEVELS)) {
  console[method] = function (...args) {
    const msg = format(...args).replace(PREFIX, '').replace(/\u001b\[[0-9;]*m/g, '').trim()
    if (msg === '') return
    const line = JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, name: 'pm2', msg }) + '\n'
    if (level >= 40) process.stderr.write(line)
    else process.stdout.write(line)
  }
}

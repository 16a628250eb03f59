/**
 * Text for a human's terminal from strings the CLI does not control (peer agent versions,
 * runtimes, error messages that quote a peer or a node): C0/C1 control characters — ESC above
 * all, which drives the terminal — and line/paragraph separators become visible `\xNN` / `\uNNNN`
 * escapes. (Backslashes stay as they are: the node already writes a peer's control characters
 * as `\uNNNN` text, which must read the same here.) A job's own stdout is not passed through
 * here: the user asked for those exact bytes.
 */
export function printable (value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

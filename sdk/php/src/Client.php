<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\NodeException;
use Phase\Exception\TransportException;
use Phase\Http\CurlTransport;
use Phase\Http\Response;
use Phase\Http\Transport;

/**
 * A client of a Phase node's JSON-over-HTTP API (TCP or unix socket). Local jobs run on that
 * node; remote ones (`Job::remote()`, `Job::onPeer()`) run on a peer the node reaches over
 * libp2p — the SDK always talks to its own node.
 *
 * Retries: 429 (queue_full) and 503 (unavailable) answers and failures to connect are retried
 * with exponential backoff and jitter — the node refuses those before it runs the job, so the
 * same nonce may be sent again. Other 4xx answers, and a connection lost after the request
 * went out, are never retried (the job may have run; a resend would be a replay).
 *
 *   $client = new Client('http://127.0.0.1:7780');
 *   $result = $client->run(Job::fromFile('hello.wasm')->args('Hello, World'));
 */
final class Client
{
    public const DEFAULT_ADDRESS = 'http://127.0.0.1:7780';
    /** Modules up to this size go with the job; larger ones only when the node lacks them. */
    public const INLINE_MODULE_BYTES = 256 * 1024;
    /** Input files up to this size go with the job as base64; larger ones are uploaded raw (PUT /v1/blobs) only when the node lacks them. */
    public const INLINE_INPUT_BYTES = 256 * 1024;
    private const MAX_BACKOFF = 5.0;
    /** curl errors that mean nothing was sent: could not resolve, could not connect. */
    private const NOT_SENT = [6, 7];
    /** …and, for idempotent GETs, errors after sending: timeout, send/receive error, empty reply. */
    private const GET_RETRY = [6, 7, 28, 52, 55, 56];

    private readonly Transport $transport;
    /** @var \Closure(float): void */
    private readonly \Closure $sleep;

    /**
     * @param string      $address        "http://host:port", "unix:/path" or "/path/to/plasmd-http.sock". Default: http://127.0.0.1:7780
     * @param string|null $token          API token (Authorization: Bearer), when the node requires one. Default: none
     * @param float       $timeout        seconds per request; a job's own timeout_ms (+10 s) extends it. Default: 120
     * @param float       $connectTimeout seconds to connect. Default: 5
     * @param int         $retries        retries after the first attempt. Default: 3
     * @param float       $backoff        first retry delay in seconds, doubled each time (jittered, at most 5 s). Default: 0.1
     * @param Transport|null $transport   for tests; default: curl
     * @param (\Closure(float): void)|null $sleep for tests; default: usleep
     */
    public function __construct(
        private readonly string $address = self::DEFAULT_ADDRESS,
        private readonly ?string $token = null,
        private readonly float $timeout = 120.0,
        float $connectTimeout = 5.0,
        private readonly int $retries = 3,
        private readonly float $backoff = 0.1,
        ?Transport $transport = null,
        ?\Closure $sleep = null,
    ) {
        $this->transport = $transport ?? new CurlTransport($address, $connectTimeout);
        $this->sleep = $sleep ?? static function (float $seconds): void { usleep((int) ($seconds * 1_000_000)); };
    }

    /** A client configured from PHASE_HTTP (address) and PHASE_TOKEN, with the defaults otherwise. */
    public static function fromEnv(): self
    {
        $address = getenv('PHASE_HTTP');
        $token = getenv('PHASE_TOKEN');
        return new self($address === false || $address === '' ? self::DEFAULT_ADDRESS : $address, $token === false || $token === '' ? null : $token);
    }

    public function address(): string
    {
        return $this->address;
    }

    /**
     * Submits a job and waits for its result. The receipt is not verified here: call
     * `Result::verify()`.
     *
     * @throws NodeException the node refused the job (code: invalid_manifest, hash_mismatch, …)
     * @throws TransportException the node could not be reached
     */
    public function run(Job $job): Result
    {
        $module = $job->module();
        $inline = $module !== null && strlen($module) <= self::INLINE_MODULE_BYTES;
        $small = [];
        foreach ($job->inputFiles() as $hash => $bytes) {
            if (strlen($bytes) <= self::INLINE_INPUT_BYTES) {
                $small[] = $hash;
            } else {
                $this->uploadInput($hash, $bytes, false);
            }
        }
        try {
            $doc = $this->call('POST', '/v1/jobs', $job->requestBody($inline, $small), $this->jobTimeout($job));
        } catch (NodeException $e) {
            // A large module goes only when the node does not cache it yet; a large input file
            // the node dropped since it was checked is uploaded again.
            if ($e->errorCode === 'input_not_cached') {
                foreach ($job->inputFiles() as $hash => $bytes) {
                    if (strlen($bytes) > self::INLINE_INPUT_BYTES) {
                        $this->uploadInput($hash, $bytes, true);
                    }
                }
            } elseif ($inline || $module === null || $e->errorCode !== 'module_not_cached') {
                throw $e;
            }
            $doc = $this->call('POST', '/v1/jobs', $job->requestBody(true, $small), $this->jobTimeout($job));
        }
        return $this->result($job, $doc);
    }

    /** Alias of `run()`. */
    public function submit(Job $job): Result
    {
        return $this->run($job);
    }

    /** The node's identity, receipt key, version and executors. */
    public function node(): NodeInfo
    {
        $d = $this->call('GET', '/v1/node', null, $this->timeout);
        if (!is_string($d['peer_id'] ?? null) || !is_string($d['receipt_public_key'] ?? null)) {
            throw new TransportException('GET /v1/node answered without peer_id and receipt_public_key');
        }
        return new NodeInfo($d['peer_id'], $d['receipt_public_key'], (string) ($d['version'] ?? ''), (int) ($d['executors'] ?? 0),
            is_array($d['runtime'] ?? null) ? $d['runtime'] : [], is_array($d['network'] ?? null) ? $d['network'] : null);
    }

    /**
     * The peers the node is connected to, with what it verified of each (GET /v1/peers); empty
     * when the node is off the network.
     *
     * @return list<Peer>
     */
    public function peers(): array
    {
        $d = $this->call('GET', '/v1/peers', null, $this->timeout);
        if (!is_array($d['peers'] ?? null) || !array_is_list($d['peers'])) {
            throw new TransportException('GET /v1/peers answered without a list of peers');
        }
        return array_map(static fn (mixed $p): Peer => Peer::fromJson($p), $d['peers']);
    }

    /** True when the node caches the module with this hash ("sha256:<hex>"). */
    public function hasModule(string $moduleHash): bool
    {
        return ($this->call('GET', '/v1/modules/' . rawurlencode($moduleHash), null, $this->timeout)['cached'] ?? false) === true;
    }

    /** True when the node caches the input file with this hash ("sha256:<hex>"). */
    public function hasInput(string $hash): bool
    {
        return ($this->call('GET', '/v1/blobs/' . rawurlencode($hash), null, $this->timeout)['cached'] ?? false) === true;
    }

    /**
     * Uploads one input file's raw bytes (PUT /v1/blobs/<hash>), unless the node has it already
     * (and `$force` is false). The node checks the hash and its per-file cap (input_too_large).
     */
    public function uploadInput(string $hash, string $bytes, bool $force = false): void
    {
        if (!$force && $this->hasInput($hash)) {
            return;
        }
        $this->call('PUT', '/v1/blobs/' . rawurlencode($hash), $bytes, max($this->timeout, strlen($bytes) / (1024 * 1024)), 'application/octet-stream');
    }

    /** True when the node answers its health check. */
    public function healthy(): bool
    {
        try {
            return ($this->call('GET', '/healthz', null, $this->timeout)['status'] ?? null) === 'ok';
        } catch (TransportException | NodeException) {
            return false;
        }
    }

    /** @return array<string, mixed> the decoded 200 body */
    private function call(string $method, string $path, ?string $body, float $timeout, string $contentType = 'application/json'): array
    {
        $headers = ['Accept' => 'application/json'];
        if ($body !== null) {
            $headers['Content-Type'] = $contentType;
        }
        if ($this->token !== null) {
            $headers['Authorization'] = "Bearer {$this->token}";
        }
        for ($attempt = 0; ; $attempt++) {
            try {
                $response = $this->transport->send($method, $path, $body, $headers, $timeout);
            } catch (TransportException $e) {
                $safe = in_array($e->curlErrno, $method === 'GET' ? self::GET_RETRY : self::NOT_SENT, true);
                if (!$safe || $attempt >= $this->retries) {
                    throw $e;
                }
                ($this->sleep)($this->delay($attempt));
                continue;
            }
            if ($response->status === 200) {
                return $this->decode($response, $path);
            }
            $error = $this->error($response, $path);
            if (!$error->isRetryable() || $attempt >= $this->retries) {
                throw $error;
            }
            ($this->sleep)($this->delay($attempt));
        }
    }

    /** @return array<string, mixed> */
    private function decode(Response $response, string $path): array
    {
        $doc = json_decode($response->body, true);
        if (!is_array($doc)) {
            throw new TransportException("{$path} answered 200 with a body that is not a JSON object");
        }
        return $doc;
    }

    private function error(Response $response, string $path): NodeException
    {
        $doc = json_decode($response->body, true);
        $code = $doc['error']['code'] ?? null;
        $message = $doc['error']['message'] ?? null;
        if (!is_string($code) || !is_string($message)) {
            // Not the node's error body (a proxy, another server on the port): say what came.
            return new NodeException($response->status === 429 ? 'queue_full' : ($response->status === 503 ? 'unavailable' : 'http_error'),
                sprintf('%s answered HTTP %d without a Phase error body', $path, $response->status), $response->status);
        }
        return new NodeException($code, $message, $response->status);
    }

    /** @param array<string, mixed> $d */
    private function result(Job $job, array $d): Result
    {
        foreach (['job_id' => 'is_string', 'status' => 'is_string', 'exit_code' => 'is_int', 'stdout_base64' => 'is_string', 'stderr_base64' => 'is_string', 'peer_id' => 'is_string', 'receipt_json' => 'is_string'] as $key => $is) {
            if (!$is($d[$key] ?? null)) {
                throw new TransportException("POST /v1/jobs answered without {$key}");
            }
        }
        $stdout = base64_decode($d['stdout_base64'], true);
        $stderr = base64_decode($d['stderr_base64'], true);
        if ($stdout === false || $stderr === false) {
            throw new TransportException('POST /v1/jobs answered with output that is not base64');
        }
        $outputs = [];
        foreach (is_array($d['outputs'] ?? null) ? $d['outputs'] : [] as $f) {
            $data = is_string($f['data_base64'] ?? null) ? base64_decode($f['data_base64'], true) : false;
            if (!is_string($f['path'] ?? null) || $data === false || array_key_exists($f['path'], $outputs)) {
                throw new TransportException('POST /v1/jobs answered with an output file without a path, with data that is not base64, or twice');
            }
            $outputs[$f['path']] = $data;
        }
        return new Result(
            jobId: $d['job_id'],
            status: $d['status'],
            exitCode: $d['exit_code'],
            stdout: $stdout,
            stderr: $stderr,
            peerId: $d['peer_id'],
            receipt: Receipt::fromJson($d['receipt_json']),
            manifest: $job->manifest(),
            capabilityJson: is_string($d['capability_json'] ?? null) ? $d['capability_json'] : null,
            targetPeerId: $job->peerId(),
            agreeing: is_int($d['agreeing'] ?? null) ? $d['agreeing'] : null,
            replicas: is_array($d['replicas'] ?? null) ? array_values($d['replicas']) : [],
            outputs: $outputs,
        );
    }

    private function jobTimeout(Job $job): float
    {
        $ms = $job->manifest()->toArray()['limits']['timeout_ms'] ?? 0;
        return max($this->timeout, $ms / 1000 + 10);
    }

    private function delay(int $attempt): float
    {
        $base = min(self::MAX_BACKOFF, $this->backoff * (2 ** $attempt));
        return $base / 2 + $base / 2 * (mt_rand() / mt_getrandmax());
    }
}

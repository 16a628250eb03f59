<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\Client;
use Phase\Exception\NodeException;
use Phase\Exception\TransportException;
use Phase\Exception\VerificationException;
use Phase\Http\CurlTransport;
use Phase\Http\Response;
use Phase\Job;
use PHPUnit\Framework\TestCase;

/** The client against a scripted transport: requests, retries, errors, results. */
final class ClientTest extends TestCase
{
    /** @var list<float> */
    private array $slept = [];

    private function client(FakeTransport $t, ?string $token = null): Client
    {
        return new Client(token: $token, retries: 3, transport: $t, sleep: function (float $s): void { $this->slept[] = $s; });
    }

    private static function error(int $status, string $code, string $message = 'm'): Response
    {
        return new Response($status, json_encode(['error' => ['code' => $code, 'message' => $message]]));
    }

    /** A 200 answer built from the shared vector's valid receipt. */
    private static function ok(array $overrides = []): Response
    {
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        $case = $file['cases'][0];
        return new Response(200, json_encode(array_merge([
            'job_id' => $case['expect']['job']['job_id'], 'status' => 'ok', 'exit_code' => 0,
            'stdout' => "Hello, World\n", 'stderr' => '', 'stdout_base64' => base64_encode("Hello, World\n"), 'stderr_base64' => '',
            'manifest' => [], 'peer_id' => $file['peer_id'], 'capability' => null, 'capability_json' => null,
            'receipt' => $case['receipt'], 'receipt_json' => $case['receipt_json'],
        ], $overrides)));
    }

    /** The vector's job, so the vector receipt matches it. */
    private static function vectorJob(): Job
    {
        return Job::fromBytes('phase test vector module v1')->nonce('000102030405060708090a0b0c0d0e0f')->args('Hello, World');
    }

    public function testSubmitsTheJobAndReturnsAVerifiableResult(): void
    {
        $t = new FakeTransport([self::ok()]);
        $result = $this->client($t, 'secret')->run(self::vectorJob());
        $this->assertSame("Hello, World\n", $result->stdout);
        $this->assertSame(0, $result->exitCode);
        $this->assertSame('ok', $result->status);
        $this->assertSame(1234, $result->wallTimeUs());
        $this->assertSame(['POST', '/v1/jobs'], [$t->requests[0]['method'], $t->requests[0]['path']]);
        $this->assertSame('Bearer secret', $t->requests[0]['headers']['Authorization']);
        $this->assertSame(base64_encode('phase test vector module v1'), json_decode($t->requests[0]['body'], true)['module']);
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        $checks = $result->verify($file['public_key']);
        $this->assertSame(['job id', 'nonce', 'module hash', 'inputs hash', 'stdout hash (13 bytes)', 'stderr hash (0 bytes)', 'outputs (0 files, 0 bytes)', 'job id, status and exit code as reported'], array_slice($checks, 5));
    }

    public function testRefusesToCallAResultVerifiedWithoutAnExpectedKey(): void
    {
        $result = $this->client(new FakeTransport([self::ok()]))->run(self::vectorJob());
        $this->expectException(VerificationException::class);
        $result->verify();
    }

    public function testDetectsOutputThatDoesNotMatchTheReceipt(): void
    {
        $result = $this->client(new FakeTransport([self::ok(['stdout_base64' => base64_encode("Hello, Wörld\n")])]))->run(self::vectorJob());
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        try {
            $result->verify($file['public_key']);
            $this->fail('verified');
        } catch (VerificationException $e) {
            $this->assertSame('stdout_hash', $e->check);
        }
    }

    /** @return iterable<string, array{array<string, mixed>, string}> */
    public static function lies(): iterable
    {
        yield 'exit code' => [['status' => 'exit', 'exit_code' => 3], 'status'];
        yield 'exit code only' => [['exit_code' => 3], 'exit_code'];
        yield 'job id' => [['job_id' => 'sha256:' . str_repeat('0', 64)], 'job_id'];
    }

    /**
     * @dataProvider lies
     * @param array<string, mixed> $lie
     */
    public function testRefusesAStatusOrExitCodeThatIsNotTheReceipts(array $lie, string $check): void
    {
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        $result = $this->client(new FakeTransport([self::ok($lie)]))->run(self::vectorJob());
        try {
            $result->verify($file['public_key']);
            $this->fail('a result whose reported values differ from its receipt verified');
        } catch (VerificationException $e) {
            $this->assertSame($check, $e->check);
        }
    }

    public function testVerifiesEachReplicaThroughItsOwnCapabilityRecord(): void
    {
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        $receipt = $file['cases'][0]['receipt_json'];
        $hash = json_decode($receipt, true)['stdout_hash'];
        $replica = ['peer_id' => $file['peer_id'], 'status' => 'ok', 'exit_code' => 0, 'stdout_hash' => $hash, 'stderr_hash' => '', 'receipt_json' => $receipt,
            'error_code' => '', 'error_message' => '', 'capability_json' => self::vectorNodeRecord()];
        $replicas = [$replica, ['status' => 'exit', 'exit_code' => 3] + $replica, ['capability_json' => null] + $replica, ['receipt_json' => '', 'error_code' => 'unavailable'] + $replica];
        $result = $this->client(new FakeTransport([self::ok(['replicas' => $replicas, 'agreeing' => 1])]))->run(self::vectorJob());
        $verdicts = $result->verifyReplicas(1_735_689_600_000);
        $this->assertSame([true, false, false, false], array_column($verdicts, 'verified'));
        $this->assertSame(['ok', 0], [$verdicts[0]['status'], $verdicts[0]['exit_code']]);
        $this->assertStringContainsString('status check failed', $verdicts[1]['reason']);
        $this->assertStringContainsString('key check failed', $verdicts[2]['reason']);
    }

    /** The vectors' node's capability record (libp2p seed 0x03, receipt key seed 0x01). */
    private static function vectorNodeRecord(): string
    {
        $pair = sodium_crypto_sign_seed_keypair(str_repeat("\x03", 32));
        $now = 1_735_689_600_000;
        $body = [
            'version' => 1, 'peer_id' => \Phase\PeerId::fromPublicKey(sodium_crypto_sign_publickey($pair)),
            'receipt_public_key' => bin2hex(sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair(str_repeat("\x01", 32)))),
            'runtimes' => [['name' => 'v8-wasm', 'version' => '24.21.0']], 'arch' => 'x64', 'cores' => 2, 'memory_mb' => 4096,
            'limits' => ['max_memory_mb' => 256, 'max_timeout_ms' => 30000, 'max_output_bytes' => 1048576, 'max_module_bytes' => 16777216],
            'queue_depth' => 0, 'protocols' => ['/phase/job/1.0.0'], 'issued_at' => $now - 1000, 'expires_at' => $now + 600000,
        ];
        $signature = bin2hex(sodium_crypto_sign_detached(\Phase\CapabilityRecord::DOMAIN . \Phase\Internal\Jcs::encode($body), sodium_crypto_sign_secretkey($pair)));
        return \Phase\Internal\Jcs::encode($body + ['signature' => $signature]);
    }

    public function testDetectsAReceiptForAnotherJob(): void
    {
        // Same module and args, fresh nonce: the node's (vector) receipt names another job.
        $result = $this->client(new FakeTransport([self::ok()]))->run(Job::fromBytes('phase test vector module v1')->args('Hello, World'));
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        try {
            $result->verify($file['public_key']);
            $this->fail('verified');
        } catch (VerificationException $e) {
            $this->assertSame('job_id', $e->check);
        }
    }

    public function testRetriesQueueFullAndUnavailableWithGrowingBackoff(): void
    {
        $t = new FakeTransport([self::error(429, 'queue_full'), self::error(503, 'unavailable'), self::ok()]);
        $this->client($t)->run(self::vectorJob());
        $this->assertCount(3, $t->requests);
        $this->assertSame($t->requests[0]['body'], $t->requests[2]['body'], 'a retry resends the same job');
        $this->assertCount(2, $this->slept);
        $this->assertGreaterThan($this->slept[0] / 2, $this->slept[1]);
    }

    public function testGivesUpAfterItsRetries(): void
    {
        $t = new FakeTransport(array_fill(0, 4, self::error(429, 'queue_full', 'node is at capacity, retry later')));
        try {
            $this->client($t)->run(self::vectorJob());
            $this->fail('no exception');
        } catch (NodeException $e) {
            $this->assertSame('queue_full', $e->errorCode);
            $this->assertSame(429, $e->httpStatus);
            $this->assertTrue($e->isRetryable());
        }
        $this->assertCount(4, $t->requests);
    }

    /** @return iterable<string, array{int, string}> */
    public function refusals(): iterable
    {
        yield 'bad manifest' => [422, 'invalid_manifest'];
        yield 'bad json' => [400, 'invalid_json'];
        yield 'token' => [401, 'unauthenticated'];
        yield 'replay' => [409, 'replayed_job'];
        yield 'too large' => [413, 'module_too_large'];
        yield 'remote receipt refused' => [502, 'verification_failed'];
        yield 'deadline' => [504, 'deadline_exceeded'];
    }

    /** @dataProvider refusals */
    public function testNeverRetriesARefusal(int $status, string $code): void
    {
        $t = new FakeTransport([self::error($status, $code, 'why')]);
        try {
            $this->client($t)->run(self::vectorJob());
            $this->fail('no exception');
        } catch (NodeException $e) {
            $this->assertSame($code, $e->errorCode);
            $this->assertSame($status, $e->getCode());
            $this->assertSame("{$code}: why", $e->getMessage());
        }
        $this->assertCount(1, $t->requests);
        $this->assertSame([], $this->slept);
    }

    public function testRetriesAFailedConnectButNotALostRequest(): void
    {
        $t = new FakeTransport([new TransportException('refused', 7), self::ok()]);
        $this->client($t)->run(self::vectorJob());
        $this->assertCount(2, $t->requests);

        // A timeout after the job went out: it may have run, a resend would be a replay.
        $t = new FakeTransport([new TransportException('timed out', 28), self::ok()]);
        try {
            $this->client($t)->run(self::vectorJob());
            $this->fail('no exception');
        } catch (TransportException $e) {
            $this->assertSame(28, $e->curlErrno);
        }
        $this->assertCount(1, $t->requests);
    }

    public function testSendsALargeModuleOnlyWhenTheNodeLacksIt(): void
    {
        $big = str_repeat("\0", Client::INLINE_MODULE_BYTES + 1);
        $t = new FakeTransport([self::error(409, 'module_not_cached'), new Response(200, '{}')]);
        try {
            $this->client($t)->run(Job::fromBytes($big));
        } catch (TransportException) {
            // The scripted '{}' is not a job result; only the requests matter here.
        }
        $this->assertArrayNotHasKey('module', json_decode($t->requests[0]['body'], true));
        $this->assertSame(base64_encode($big), json_decode($t->requests[1]['body'], true)['module']);
    }

    public function testReadsNodeInfoAndModuleCache(): void
    {
        $t = new FakeTransport([
            new Response(200, '{"peer_id":"12D3KooWX","receipt_public_key":"' . str_repeat('a', 64) . '","version":"0.1.0","executors":2,"runtime":{"name":"v8-wasm","version":"24"},"network":null}'),
            new Response(200, '{"module_hash":"sha256:' . str_repeat('0', 64) . '","cached":true}'),
            new Response(200, '{"status":"ok"}'),
        ]);
        $client = $this->client($t);
        $info = $client->node();
        $this->assertSame(['12D3KooWX', str_repeat('a', 64), 2, null], [$info->peerId, $info->receiptPublicKey, $info->executors, $info->network]);
        $this->assertTrue($client->hasModule('sha256:' . str_repeat('0', 64)));
        $this->assertTrue($client->healthy());
        $this->assertSame('/v1/modules/sha256%3A' . str_repeat('0', 64), $t->requests[1]['path']);
    }

    public function testReadsThePeersAndRefusesAPeerWithoutTheDocumentedFields(): void
    {
        $peer = ['peer_id' => '12D3KooWY', 'transport' => 'quic', 'latency_ms' => 1.5, 'runs_jobs' => true, 'receipt_public_key' => str_repeat('b', 64),
            'runtimes' => ['v8-wasm@13'], 'successes' => 3, 'failures' => 1, 'addresses' => ['/ip4/127.0.0.1/udp/4001/quic-v1'], 'agent_version' => null,
            'reputation' => ['score' => 0.61, 'receipts_verified' => 3, 'receipts_refused' => 0, 'replica_disagreements' => 0, 'failures' => 1, 'refusals' => 0]];
        $t = new FakeTransport([
            new Response(200, json_encode(['peers' => [$peer]])),
            new Response(200, '{"peers":[]}'),
            new Response(200, json_encode(['peers' => [array_diff_key($peer, ['reputation' => 1])]])),
            new Response(200, '{"peers":{"a":1}}'),
        ]);
        $client = $this->client($t);
        $peers = $client->peers();
        $this->assertCount(1, $peers);
        $this->assertSame(['12D3KooWY', 'quic', 1.5, true, 3, 1, null, 0.61, 3.0], [$peers[0]->peerId, $peers[0]->transport, $peers[0]->latencyMs,
            $peers[0]->runsJobs, $peers[0]->successes, $peers[0]->failures, $peers[0]->agentVersion, $peers[0]->score(), $peers[0]->reputation['receipts_verified']]);
        $this->assertSame('/v1/peers', $t->requests[0]['path']);
        $this->assertSame([], $client->peers());
        foreach ([2, 3] as $_) {
            try {
                $client->peers();
                $this->fail('no exception');
            } catch (TransportException $e) {
                $this->assertStringContainsString('/v1/peers', $e->getMessage());
            }
        }
    }

    public function testNamesAnAnswerThatIsNotThePhaseErrorFormat(): void
    {
        try {
            $this->client(new FakeTransport([new Response(404, '<html>nope</html>')]))->node();
            $this->fail('no exception');
        } catch (NodeException $e) {
            $this->assertSame('http_error', $e->errorCode);
            $this->assertStringContainsString('HTTP 404', $e->getMessage());
        }
    }

    public function testCurlReportsAnUnreachableNodeAsATransportError(): void
    {
        $client = new Client('unix:/nonexistent/plasmd-http.sock', retries: 1, sleep: static function (): void {});
        try {
            $client->node();
            $this->fail('no exception');
        } catch (TransportException $e) {
            $this->assertSame(7, $e->curlErrno);
            $this->assertStringContainsString('/nonexistent/plasmd-http.sock', $e->getMessage());
        }
        $this->expectException(\InvalidArgumentException::class);
        new CurlTransport('127.0.0.1:7780');
    }
}

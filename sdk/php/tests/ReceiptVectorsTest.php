<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\Exception\VerificationException;
use Phase\Expect;
use Phase\Manifest;
use Phase\PeerId;
use Phase\Receipt;
use PHPUnit\Framework\TestCase;

/**
 * Every case of test/vectors/receipts.v1.json through Receipt::verify, on the exact text
 * (`receipt_json`), with the same outcomes and failed-check names as the TS verifiers.
 */
final class ReceiptVectorsTest extends TestCase
{
    /** @return array<string, mixed> */
    private static function file(): array
    {
        return json_decode((string) file_get_contents(PHASE_VECTORS), true, 512, JSON_THROW_ON_ERROR);
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public function cases(): iterable
    {
        foreach (self::file()['cases'] as $case) {
            yield $case['name'] => [$case];
        }
    }

    /** @param array<string, mixed> $e */
    private static function expectOf(array $e): Expect
    {
        $b64 = static fn (?string $s): ?string => $s === null ? null : base64_decode($s, true);
        return new Expect(
            publicKey: $e['public_key'],
            peerId: $e['peer_id'] ?? null,
            jobId: $e['job']['job_id'] ?? null,
            nonce: $e['job']['nonce'] ?? null,
            moduleHash: $e['job']['module_hash'] ?? null,
            inputsHash: $e['job']['inputs_hash'] ?? null,
            stdout: $b64($e['outputs']['stdout_base64'] ?? null),
            stderr: $b64($e['outputs']['stderr_base64'] ?? null),
            files: isset($e['outputs']['files_base64']) ? array_map(static fn (string $f): string => (string) base64_decode($f, true), $e['outputs']['files_base64']) : null,
        );
    }

    /**
     * @dataProvider cases
     * @param array<string, mixed> $case
     */
    public function testVerifiesTheVectorAsTheTsVerifiersDo(array $case): void
    {
        $this->assertIsString($case['receipt_json'], 'every vector carries its receipt as text');
        $receipt = Receipt::fromJson($case['receipt_json']);
        if ($case['valid']) {
            $checks = $receipt->verify(self::expectOf($case['expect']));
            $this->assertSame(['format (receipt v1)', 'canonical (RFC 8785, exact bytes)'], array_slice($checks, 0, 2));
            $this->assertContains('signature (ed25519, phase-receipt:v1)', $checks);
            $this->assertEquals(json_decode($case['receipt_json'], true), $receipt->toArray());
            return;
        }
        try {
            $receipt->verify(self::expectOf($case['expect']));
            $this->fail("{$case['name']} verified, but must fail at {$case['failed_check']}");
        } catch (VerificationException $e) {
            $this->assertSame($case['failed_check'], $e->check, $e->getMessage());
        }
    }

    public function testCoversEveryCheck(): void
    {
        $checks = array_unique(array_filter(array_column(self::file()['cases'], 'failed_check')));
        foreach (['format', 'canonical', 'key', 'peer_id', 'signature', 'job_id', 'nonce', 'module_hash', 'inputs_hash', 'stdout_hash', 'stderr_hash', 'outputs'] as $check) {
            $this->assertContains($check, $checks);
        }
    }

    public function testComputesTheVectorsJobIdAndInputsHashLikeTheTsCore(): void
    {
        $file = self::file();
        $job = $file['cases'][0]['expect']['job'];
        $m = Manifest::forModule('phase test vector module v1')->nonce('000102030405060708090a0b0c0d0e0f')->args('Hello, World');
        $this->assertSame($job['module_hash'], $m->moduleHash());
        $this->assertSame($job['job_id'], $m->jobId());
        $this->assertSame($job['inputs_hash'], $m->inputsHash());
    }

    public function testDerivesTheVectorsPeerIdFromItsKey(): void
    {
        // The vectors' libp2p identity is the Ed25519 key of seed 32×0x03.
        $public = sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair(str_repeat("\x03", 32)));
        $peerId = self::file()['peer_id'];
        $this->assertSame($peerId, PeerId::fromPublicKey($public));
        $this->assertSame(bin2hex($public), bin2hex(PeerId::publicKey($peerId)));
    }

    /** @return iterable<string, array{\Closure(string): string, string}> */
    public function respellings(): iterable
    {
        yield 'a repeated signature member' => [fn (string $j) => substr($j, 0, -1) . ',"signature":"' . str_repeat('0', 128) . '"}', 'member /signature appears more than once'];
        yield 'a repeated nested member' => [fn (string $j) => str_replace('"limits":{', '"limits":{"timeout_ms":1,', $j), 'member /limits/timeout_ms appears more than once'];
        yield 'a space' => [fn (string $j) => '{ ' . substr($j, 1), 'at byte 1 it has'];
        yield 'a byte order mark' => [fn (string $j) => "\xEF\xBB\xBF" . $j, 'byte order mark'];
        yield 'an integer as 0.0' => [fn (string $j) => str_replace('"exit_code":0', '"exit_code":0.0', $j), 'at byte'];
    }

    /**
     * @dataProvider respellings
     * @param \Closure(string): string $respell
     */
    public function testRefusesAnotherSpellingOfTheReceiptAtTheCanonicalCheck(\Closure $respell, string $message): void
    {
        $json = $respell(self::file()['cases'][0]['receipt_json']);
        try {
            Receipt::fromJson($json)->verify(Expect::key(self::file()['public_key']));
            $this->fail('a re-spelled receipt verified');
        } catch (VerificationException $e) {
            $this->assertSame('canonical', $e->check, $e->getMessage());
            $this->assertStringContainsString($message, $e->getMessage());
        }
    }
}

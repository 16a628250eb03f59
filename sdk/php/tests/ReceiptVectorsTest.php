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
            $this->assertMatchesRegularExpression('/^format/', $checks[0]);
            $this->assertContains('signature (ed25519, phase-receipt:v1)', $checks);
            $this->assertEquals($case['receipt'], $receipt->toArray());
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
        foreach (['format', 'key', 'peer_id', 'signature', 'job_id', 'nonce', 'module_hash', 'inputs_hash', 'stdout_hash', 'stderr_hash'] as $check) {
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

    public function testRejectsAReceiptWhoseSignatureMemberRepeats(): void
    {
        $json = self::file()['cases'][0]['receipt_json'];
        $doubled = substr($json, 0, -1) . ',"signature":"' . str_repeat('0', 128) . '"}';
        $this->expectExceptionObject(new VerificationException('format', 'receipt: top-level members must not repeat'));
        try {
            Receipt::fromJson($doubled)->verify(Expect::key(self::file()['public_key']));
        } catch (VerificationException $e) {
            $this->assertSame('format', $e->check);
            throw $e;
        }
    }

    public function testChecksTheSignatureOnTheBytesReceivedNotOnReEncodedJson(): void
    {
        // Same document, not canonical text (a space): the signed bytes are not these bytes.
        $json = self::file()['cases'][0]['receipt_json'];
        $spaced = '{ ' . substr($json, 1);
        try {
            Receipt::fromJson($spaced)->verify(Expect::key(self::file()['public_key']));
            $this->fail('a re-spaced receipt verified');
        } catch (VerificationException $e) {
            $this->assertSame('signature', $e->check);
        }
    }
}

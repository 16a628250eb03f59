<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\CapabilityRecord;
use Phase\Exception\VerificationException;
use Phase\Expect;
use Phase\Internal\Jcs;
use Phase\PeerId;
use Phase\Receipt;
use PHPUnit\Framework\TestCase;

/** The PeerId ↔ receipt key binding: records signed with the libp2p key the PeerId embeds. */
final class CapabilityRecordTest extends TestCase
{
    private const NOW = 1_735_689_600_000;

    /** A record signed (as the node signs it) by the libp2p key of seed 32×$seed. */
    private static function record(string $seed = "\x03", array $overrides = []): array
    {
        $pair = sodium_crypto_sign_seed_keypair(str_repeat($seed, 32));
        $peerId = PeerId::fromPublicKey(sodium_crypto_sign_publickey($pair));
        $body = array_merge([
            'version' => 1, 'peer_id' => $peerId,
            'receipt_public_key' => bin2hex(sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair(str_repeat("\x01", 32)))),
            'runtimes' => [['name' => 'v8-wasm', 'version' => '24.21.0']], 'arch' => 'x64', 'cores' => 2, 'memory_mb' => 4096,
            'limits' => ['max_memory_mb' => 256, 'max_timeout_ms' => 30000, 'max_output_bytes' => 1048576, 'max_module_bytes' => 16777216],
            'queue_depth' => 0, 'protocols' => ['/phase/job/1.0.0'], 'issued_at' => self::NOW - 1000, 'expires_at' => self::NOW + 600000,
        ], $overrides);
        $signature = bin2hex(sodium_crypto_sign_detached(CapabilityRecord::DOMAIN . Jcs::encode($body), sodium_crypto_sign_secretkey($pair)));
        return ['peer_id' => $peerId, 'json' => Jcs::encode($body + ['signature' => $signature])];
    }

    public function testBindsThePeerIdToItsReceiptKey(): void
    {
        ['peer_id' => $peerId, 'json' => $json] = self::record();
        $record = CapabilityRecord::verify($json, $peerId, self::NOW);
        $this->assertSame('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c', $record->receiptPublicKey);
        $expect = Expect::peer($peerId, $json, self::NOW);
        $this->assertSame($record->receiptPublicKey, $expect->publicKey);
        $this->assertSame($peerId, $expect->peerId);
    }

    public function testToleratesOneTrailingLineFeedAsEveryVerifierDoes(): void
    {
        ['peer_id' => $peerId, 'json' => $json] = self::record();
        $this->assertSame($peerId, CapabilityRecord::verify($json . "\n", $peerId, self::NOW)->peerId);
    }

    public function testVerifiesTheSharedVectorThroughTheBinding(): void
    {
        // The vectors' node: libp2p seed 0x03, receipt key seed 0x01 — the record above.
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true);
        ['json' => $json] = self::record();
        $checks = Receipt::fromJson($file['cases'][0]['receipt_json'])->verify(Expect::peer($file['peer_id'], $json, self::NOW));
        $this->assertContains("peer id {$file['peer_id']}", $checks);
    }

    /** @return iterable<string, array{string, \Closure(): array{string, string}}> */
    public function forgeries(): iterable
    {
        yield 'another peer\'s record' => ['peer_id', fn () => [self::record("\x04")['json'], self::record()['peer_id']]];
        yield 'signed by another key' => ['signature', function () {
            $other = self::record("\x04");
            $mine = self::record();
            return [str_replace($other['peer_id'], $mine['peer_id'], $other['json']), $mine['peer_id']];
        }];
        yield 'receipt key swapped after signing' => ['signature', function () {
            $r = self::record();
            return [preg_replace('/"receipt_public_key":"[0-9a-f]{64}"/', '"receipt_public_key":"' . str_repeat('ab', 32) . '"', $r['json']), $r['peer_id']];
        }];
        yield 'expired' => ['expired', function () {
            $r = self::record("\x03", ['expires_at' => self::NOW]);
            return [$r['json'], $r['peer_id']];
        }];
        yield 'not JSON' => ['format', fn () => ['{"version":1', self::record()['peer_id']]];
        yield 'unknown member' => ['format', function () {
            $r = self::record("\x03", ['extra' => 1]);
            return [$r['json'], $r['peer_id']];
        }];
        yield 'pretty-printed' => ['canonical', function () {
            $r = self::record();
            return [json_encode(json_decode($r['json']), JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), $r['peer_id']];
        }];
        yield 'members reordered' => ['canonical', function () {
            $r = self::record();
            $fields = json_decode($r['json'], true);
            return [json_encode(array_reverse($fields), JSON_UNESCAPED_SLASHES), $r['peer_id']];
        }];
        yield 'a byte order mark' => ['canonical', function () {
            $r = self::record();
            return ["\xEF\xBB\xBF" . $r['json'], $r['peer_id']];
        }];
        yield 'a repeated receipt key, the first another' => ['canonical', function () {
            $r = self::record();
            return ['{"receipt_public_key":"' . str_repeat('ab', 32) . '",' . substr($r['json'], 1), $r['peer_id']];
        }];
        yield 'an integer as 2.0' => ['canonical', function () {
            $r = self::record();
            return [str_replace('"cores":2', '"cores":2.0', $r['json']), $r['peer_id']];
        }];
        yield 'not an Ed25519 PeerId' => ['peer_id', function () {
            $r = self::record();
            $fake = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N';
            return [str_replace($r['peer_id'], $fake, $r['json']), $fake];
        }];
    }

    /**
     * @dataProvider forgeries
     * @param \Closure(): array{string, string} $make
     */
    public function testRefusesAForgedOrStaleRecord(string $check, \Closure $make): void
    {
        [$json, $peerId] = $make();
        try {
            CapabilityRecord::verify($json, $peerId, self::NOW);
            $this->fail('the record verified');
        } catch (VerificationException $e) {
            $this->assertSame($check, $e->check, $e->getMessage());
        }
    }
}

<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\Exception\ManifestException;
use Phase\Internal\Jcs;
use Phase\Job;
use Phase\Manifest;
use PHPUnit\Framework\TestCase;

/** Manifest and Job builders, and the canonical JSON / job id against literals from the TS core. */
final class ManifestTest extends TestCase
{
    private const HASH = 'sha256:abababababababababababababababababababababababababababababababab';
    private const NONCE = '00112233445566778899aabbccddeeff';

    private static function full(): Manifest
    {
        return (new Manifest(self::HASH, self::NONCE))
            ->args('Hello, World', "quote \" back \\ slash / tab \t nl \n ctl \u{1} del \u{7f}", "ünï €😀 \u{2028}")
            ->env('b', '2')->env('B', '1')->env('_a', 'x')->env('Z9', '')
            ->stdin('stressed')
            ->timeoutMs(5000)->memoryMb(64)->outputBytes(0)
            ->requires(runtime: 'v8-wasm', minCores: 1);
    }

    public function testCanonicalJsonMatchesTheTsCore(): void
    {
        // canonicalize() of services/core/src/canonical.ts for the same manifest.
        $this->assertSame(
            '{"args":["Hello, World","quote \" back \\\\ slash / tab \t nl \n ctl \u0001 del ' . "\u{7f}" . '","ünï €😀 ' . "\u{2028}" . '"],'
            . '"env":{"B":"1","Z9":"","_a":"x","b":"2"},"limits":{"memory_mb":64,"output_bytes":0,"timeout_ms":5000},'
            . '"module_hash":"' . self::HASH . '","nonce":"' . self::NONCE . '","requirements":{"min_cores":1,"runtime":"v8-wasm"},'
            . '"stdin":"c3RyZXNzZWQ=","version":1}',
            self::full()->toJson(),
        );
    }

    public function testJobIdAndInputsHashMatchTheTsCore(): void
    {
        // jobIdOf / inputsHashOf of services/core/src/documents/manifest.ts.
        $this->assertSame('sha256:4995f8035319d5376977ebe89ead104d6821c6babb372167ecd1edda09363ca1', self::full()->jobId());
        $this->assertSame('sha256:4842af4d5f4d85250107803af40c47f7c6abf937a2e9714fb50cb4edddb43490', self::full()->inputsHash());
        $bare = new Manifest(self::HASH, self::NONCE);
        $this->assertSame('sha256:9ec603c5410dda5cd9a9cd40fdf61608f7a2ec30909f16fd7a2322ca94e4a84a', $bare->jobId());
        $this->assertSame('sha256:ef9211e2bd56b20f226b9330ff2116e8aef0dcf8c98bc1be8f70372bcba154c8', $bare->inputsHash());
    }

    public function testInputFilesEnterTheJobIdAndTheInputsHashAsInTheTsCore(): void
    {
        // Literals from the TS core (inputsHashOf, jobIdOf) for the same manifest: the files in
        // the order given in the manifest, sorted by path in the inputs hash.
        $m = (new Manifest(self::HASH, '000102030405060708090a0b0c0d0e0f'))->args('a')
            ->input('/in/z.csv', 'sha256:' . str_repeat('11', 32))->input('/in/a/b', 'sha256:' . str_repeat('22', 32));
        $this->assertSame('sha256:9f2bcdf19f1283eac7285d7c2c634a7307c3abcc7a3048e7f12635bcf14e6737', $m->inputsHash());
        $this->assertSame('sha256:e00e92f0c3cc9e54b46ea6cd42092f28574d4748e941231cd81fa932b6af277a', $m->jobId());
    }

    public function testRefusesInputPathsTheSchemaRefuses(): void
    {
        foreach (['/in', '/in/', '/out/x', '/in/../x', '/in/./x', '/in/a b', 'in/x', '/in/' . str_repeat('a', 252)] as $path) {
            try {
                (new Manifest(self::HASH))->input($path, self::HASH);
                $this->fail("accepted {$path}");
            } catch (ManifestException) {
                $this->addToAssertionCount(1);
            }
        }
        $this->expectException(ManifestException::class);
        (new Manifest(self::HASH))->input('/in/a', self::HASH)->input('/in/a/b', self::HASH);
    }

    public function testJobSendsSmallInputFilesWithTheJob(): void
    {
        $job = Job::fromBytes('wasm')->input('/in/x', 'hello');
        $hash = 'sha256:' . hash('sha256', 'hello');
        $this->assertSame([['path' => '/in/x', 'hash' => $hash]], $job->manifest()->toArray()['inputs']);
        $body = json_decode($job->requestBody(false, [$hash]), true);
        $this->assertSame([['hash' => $hash, 'data' => base64_encode('hello')]], $body['inputs']);
        $this->assertArrayNotHasKey('inputs', json_decode($job->requestBody(false), true));
    }

    public function testCarriesFuelAndTheDeterministicProfileAsTheTsCoreDoes(): void
    {
        // manifest(HASH).nonce(NONCE).fuel(5000).profile('deterministic') of sdk/ts, canonicalized and jobIdOf'd by the TS core.
        $m = (new Manifest(self::HASH, self::NONCE))->fuel(5000)->deterministic();
        $this->assertSame('{"limits":{"fuel":5000},"module_hash":"' . self::HASH . '","nonce":"' . self::NONCE . '","profile":"deterministic","version":1}', $m->toJson());
        $this->assertSame('sha256:59a1b6b404b33d298010e8f42cb9764265f6c4c4fa1f1cc28e90cef5fc163122', $m->jobId());
    }

    public function testSortsMemberNamesByUtf16CodeUnits(): void
    {
        // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+E000 (unlike in UTF-8).
        $this->assertSame('{"a":3,"é":4,"😀":2,"' . "\u{e000}" . '":1}', Jcs::encode(["\u{e000}" => 1, '😀' => 2, 'a' => 3, 'é' => 4]));
    }

    public function testDrawsAFreshNonceForEveryManifest(): void
    {
        $a = Manifest::forModule('x');
        $b = Manifest::forModule('x');
        $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $a->getNonce());
        $this->assertNotSame($a->jobId(), $b->jobId());
    }

    public function testLeavesUnsetPartsOut(): void
    {
        $m = Manifest::forModule('wasm');
        $this->assertSame(['version', 'module_hash', 'nonce'], array_keys($m->toArray()));
        $this->assertSame('sha256:' . hash('sha256', 'wasm'), $m->moduleHash());
    }

    /** @return iterable<string, array{\Closure(): mixed}> */
    public function badInputs(): iterable
    {
        yield 'bad module hash' => [fn () => new Manifest('sha256:XYZ')];
        yield 'short nonce' => [fn () => Manifest::forModule('x')->nonce('abc')];
        yield 'uppercase nonce' => [fn () => Manifest::forModule('x')->nonce(str_repeat('A', 32))];
        yield 'env name with a dash' => [fn () => Manifest::forModule('x')->env('A-B', '1')];
        yield 'env name with a newline' => [fn () => Manifest::forModule('x')->env("A\n", '1')];
        yield 'arg not UTF-8' => [fn () => Manifest::forModule('x')->args("\xff")];
        yield 'too long arg' => [fn () => Manifest::forModule('x')->args(str_repeat('a', 16385))];
        yield 'zero memory' => [fn () => Manifest::forModule('x')->memoryMb(0)];
        yield 'negative timeout' => [fn () => Manifest::forModule('x')->timeoutMs(-1)];
        yield 'zero fuel' => [fn () => Manifest::forModule('x')->fuel(0)];
        yield 'fuel past 2^53' => [fn () => Manifest::forModule('x')->fuel(9007199254740992)];
        yield 'negative min cores' => [fn () => Manifest::forModule('x')->requires(minCores: -1)];
        yield 'zero replicas' => [fn () => Job::fromBytes('x')->replicas(0)];
        yield 'module not matching manifest' => [fn () => Job::fromManifest(Manifest::forModule('x'), 'y')];
        yield 'missing file' => [fn () => Job::fromFile('/nonexistent/hello.wasm')];
    }

    /**
     * @dataProvider badInputs
     * @param \Closure(): mixed $build
     */
    public function testRefusesWhatTheManifestFormatCannotCarry(\Closure $build): void
    {
        $this->expectException(ManifestException::class);
        $build();
    }

    public function testJobBodyCarriesTheCanonicalManifestAndTheRoute(): void
    {
        $job = Job::fromBytes('wasm')->nonce(self::NONCE)->args('hi')->onPeer('12D3KooWPeer')->replicas(1);
        $body = json_decode($job->requestBody(true), true);
        $this->assertEquals($job->manifest()->toArray(), $body['manifest']);
        $this->assertSame(base64_encode('wasm'), $body['module']);
        $this->assertSame('12D3KooWPeer', $body['peer_id']);
        $this->assertArrayNotHasKey('target', $body);
        $this->assertStringStartsWith('{"manifest":' . $job->manifest()->toJson() . ',', $job->requestBody(false));
        $this->assertArrayNotHasKey('module', json_decode($job->requestBody(false), true));
        $this->assertSame('remote', json_decode(Job::fromHash(self::HASH)->remote()->requestBody(true), true)['target']);
        $this->assertArrayNotHasKey('module', json_decode(Job::fromHash(self::HASH)->requestBody(true), true));
    }
}

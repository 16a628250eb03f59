<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\Exception\VerificationException;
use Phase\Expect;
use Phase\Manifest;
use Phase\Receipt;
use Phase\Result;
use PHPUnit\Framework\TestCase;

/**
 * Output files checked against a receipt's `outputs` in the PHP SDK: in memory
 * (`Expect::files`, `Result::verify($key, null, $files)`) and in a folder mirroring /out
 * (`Receipt::verifyDirectory`, `Result::verifyOutputDir`), on the shared vectors' receipts.
 */
final class OutputFilesTest extends TestCase
{
    private string $dir;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/phase-php-out-' . bin2hex(random_bytes(6));
        mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        $rm = static function (string $path) use (&$rm): void {
            if (is_dir($path) && !is_link($path)) {
                foreach (array_diff((array) scandir($path), ['.', '..']) as $name) {
                    $rm("{$path}/{$name}");
                }
                rmdir($path);
            } else {
                unlink($path);
            }
        };
        $rm($this->dir);
    }

    /** @return array<string, mixed> */
    private static function vector(string $name): array
    {
        $file = json_decode((string) file_get_contents(PHASE_VECTORS), true, 512, JSON_THROW_ON_ERROR);
        foreach ($file['cases'] as $case) {
            if ($case['name'] === $name) {
                return $case;
            }
        }
        throw new \LogicException("no vector {$name}");
    }

    /** @return array<string, string> the valid_outputs vector's files, bytes by guest path */
    private static function files(): array
    {
        return array_map(static fn (string $b64): string => (string) base64_decode($b64, true), self::vector('valid_outputs')['expect']['outputs']['files_base64']);
    }

    /** @param array<string, string> $files */
    private function writeOut(array $files): void
    {
        foreach ($files as $path => $bytes) {
            $at = $this->dir . substr($path, strlen('/out'));
            if (!is_dir(dirname($at))) {
                mkdir(dirname($at), 0o755, true);
            }
            file_put_contents($at, $bytes);
        }
    }

    private static function receipt(): Receipt
    {
        return Receipt::fromJson(self::vector('valid_outputs')['receipt_json']);
    }

    private static function key(): string
    {
        return self::vector('valid_outputs')['expect']['public_key'];
    }

    private function assertFailsAt(string $check, string $message, \Closure $verify): void
    {
        try {
            $verify();
            $this->fail("verified, but must fail at {$check}");
        } catch (VerificationException $e) {
            $this->assertSame($check, $e->check, $e->getMessage());
            $this->assertStringContainsString($message, $e->getMessage());
        }
    }

    public function testReadsTheIssue12MembersOfAVerifiedReceipt(): void
    {
        $fuel = Receipt::fromJson(self::vector('valid_fuel_deterministic')['receipt_json']);
        $this->assertSame([1234567, 5000000, 'deterministic'], [$fuel->fuelUsed(), $fuel->fuelLimit(), $fuel->profile()]);
        $trap = Receipt::fromJson(self::vector('valid_trap_stack_overflow')['receipt_json']);
        $this->assertSame(['stack_overflow', null, null, 'default'], [$trap->trap(), $trap->fuelUsed(), $trap->fuelLimit(), $trap->profile()]);
        $this->assertSame(877000, Receipt::fromJson(self::vector('valid_compile_time')['receipt_json'])->compileTimeUs());
        $this->assertNull($trap->compileTimeUs());
    }

    public function testVerifiesAFolderHoldingExactlyTheFilesTheReceiptLists(): void
    {
        $this->writeOut(self::files());
        $checks = self::receipt()->verifyDirectory($this->dir, Expect::key(self::key()));
        $this->assertSame("outputs (3 files, 55 bytes) in {$this->dir}", end($checks));
        $this->assertContains('signature (ed25519, phase-receipt:v1)', $checks);
    }

    public function testRefusesAFolderWithAnExtraFile(): void
    {
        $this->writeOut(self::files() + ['/out/data/extra.txt' => 'x']);
        $this->assertFailsAt('outputs', '"/out/data/extra.txt" was received but is not in the receipt', fn () => self::receipt()->verifyDirectory($this->dir, Expect::key(self::key())));
    }

    public function testRefusesAFolderMissingAFile(): void
    {
        $files = self::files();
        unset($files['/out/empty']);
        $this->writeOut($files);
        $this->assertFailsAt('outputs', 'the receipt lists "/out/empty" (0 bytes), which was not received', fn () => self::receipt()->verifyDirectory($this->dir, Expect::key(self::key())));
    }

    public function testRefusesAFileChangedOnDisk(): void
    {
        $this->writeOut(['/out/report.txt' => str_replace('3.14159', '3.14158', self::files()['/out/report.txt'])] + self::files());
        $this->assertFailsAt('outputs', 'the bytes received for "/out/report.txt" do not match', fn () => self::receipt()->verifyDirectory($this->dir, Expect::key(self::key())));
    }

    public function testRefusesASymbolicLinkWithoutFollowingIt(): void
    {
        $files = self::files();
        unset($files['/out/report.txt']);
        $this->writeOut($files);
        file_put_contents($this->dir . '/../phase-php-target-' . basename($this->dir), self::files()['/out/report.txt']);
        symlink($this->dir . '/../phase-php-target-' . basename($this->dir), $this->dir . '/report.txt');
        try {
            $this->assertFailsAt('outputs', 'is a symbolic link', fn () => self::receipt()->verifyDirectory($this->dir, Expect::key(self::key())));
        } finally {
            unlink($this->dir . '/../phase-php-target-' . basename($this->dir));
        }
    }

    public function testChecksTheKeyBeforeTheFolder(): void
    {
        $this->assertFailsAt('key', 'receipt names key', fn () => self::receipt()->verifyDirectory($this->dir . '/absent', Expect::key(str_repeat('ab', 32))));
    }

    public function testResultVerifiesTheFilesItIsGivenAndAFolder(): void
    {
        $case = self::vector('valid_outputs');
        $doc = json_decode($case['receipt_json'], true);
        $manifest = Manifest::forModule('phase test vector module v1')->nonce('000102030405060708090a0b0c0d0e0f')->args('Hello, World');
        $result = new Result($doc['job_id'], 'ok', 0, "Hello, World\n", '', $doc['node']['peer_id'], self::receipt(), $manifest);
        $checks = $result->verify(self::key(), null, self::files());
        $this->assertContains('outputs (3 files, 55 bytes)', $checks);
        $this->assertContains('job id', $checks);
        $this->assertFailsAt('outputs', 'was not received', fn () => $result->verify(self::key(), null, []));
        $this->writeOut(self::files());
        $this->assertContains("outputs (3 files, 55 bytes) in {$this->dir}", $result->verifyOutputDir($this->dir, self::key()));
        // Without files, the outputs are not checked (the caller did not receive them).
        $this->assertNotContains('outputs (3 files, 55 bytes)', $result->verify(self::key()));
    }

    public function testNeverDecodesTextLongerThanMaxBytes(): void
    {
        // A JSON array of MAX_BYTES + 1 bytes: decoded, it would be a receipt-looking value.
        $json = '[' . str_repeat('1,', intdiv(Receipt::MAX_BYTES, 2) - 1) . '1]';
        $this->assertGreaterThan(Receipt::MAX_BYTES, strlen($json));
        $receipt = Receipt::fromJson($json);
        $this->assertSame([], $receipt->toArray());
        $this->assertFailsAt('format', 'more than the 131072 a valid one can take', fn () => $receipt->verify(Expect::key(self::key())));
        $this->assertSame(131072, Receipt::MAX_BYTES);
    }

    public function testListsTheReceiptsOutputFiles(): void
    {
        $this->assertSame(['/out/data/result.csv', '/out/empty', '/out/report.txt'], array_column(self::receipt()->outputFiles(), 'path'));
    }
}

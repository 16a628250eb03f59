<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\VerificationException;
use Phase\Internal\CanonicalText;
use Phase\Internal\Jcs;
use Phase\Internal\OutputFiles;
use Phase\Internal\ReceiptFormat;
use Phase\Internal\SignedText;

/**
 * A signed execution receipt, kept as the exact JSON text received (the HTTP API's
 * `receipt_json`). `verify()` checks it in the same order and with the same check names as the
 * TypeScript verifier (services/core/src/crypto/checks.ts): format → canonical → key →
 * peer_id → signature → job_id → nonce → module_hash → inputs_hash → stdout_hash →
 * stderr_hash → outputs (the files the job wrote: `Expect::files`, or `verifyDirectory`). `canonical`: the bytes received must be exactly the RFC 8785 form of the
 * receipt they decode to (one trailing line feed tolerated) — no BOM, whitespace, reordered or
 * repeated members, needless escapes or other spellings of a number — so the receipt has one
 * reading, the one that was signed. The signature is then checked on those bytes.
 */
final class Receipt
{
    public const DOMAIN = 'phase-receipt:v1:';
    /** Bytes of the largest receipt read (the largest valid one, 256 outputs, is under 99 KiB), as the TS core's MAX_RECEIPT_BYTES. */
    public const MAX_BYTES = 131072;

    /** @var array<string, mixed>|null */
    private ?array $fields;

    private function __construct(private readonly string $json)
    {
        // Bounded before it is parsed: text longer than any valid receipt is never decoded (it fails `verify` at "format").
        $decoded = strlen($json) > self::MAX_BYTES ? null : json_decode($json, true);
        $this->fields = is_array($decoded) ? $decoded : null;
    }

    /** Wraps received receipt text; never throws (a malformed receipt fails `verify` at "format"). */
    public static function fromJson(string $json): self
    {
        return new self($json);
    }

    /** The exact text received. */
    public function json(): string
    {
        return $this->json;
    }

    /** The decoded receipt (empty when the text is not a JSON object). Unverified until `verify()`. @return array<string, mixed> */
    public function toArray(): array
    {
        return $this->fields ?? [];
    }

    public function jobId(): ?string { return $this->str('job_id'); }
    public function nonce(): ?string { return $this->str('nonce'); }
    public function moduleHash(): ?string { return $this->str('module_hash'); }
    public function status(): ?string { return $this->str('status'); }
    public function startedAt(): ?string { return $this->str('started_at'); }
    public function finishedAt(): ?string { return $this->str('finished_at'); }
    public function exitCode(): ?int { return $this->int('exit_code'); }
    /** Wall time of the run in microseconds, as the node measured and signed it. */
    public function wallTimeUs(): ?int { return $this->int('wall_time_us'); }
    public function cpuTimeUs(): ?int { return $this->int('cpu_time_us'); }
    /** Fuel spent (metered jobs only), and the budget the node applied. */
    public function fuelUsed(): ?int { return $this->int('fuel_used'); }
    public function fuelLimit(): ?int { return is_int($this->fields['limits']['fuel'] ?? null) ? $this->fields['limits']['fuel'] : null; }
    /** 'deterministic', or 'default' when the receipt states no profile. */
    public function profile(): string { return $this->str('profile') ?? 'default'; }
    /** Why the guest trapped (status trap only), e.g. 'stack_overflow'. */
    public function trap(): ?string { return $this->str('trap'); }
    /** Time the node spent compiling the module for this job, apart from wallTimeUs(). */
    public function compileTimeUs(): ?int { return $this->int('compile_time_us'); }
    public function peerId(): ?string { return is_string($this->fields['node']['peer_id'] ?? null) ? $this->fields['node']['peer_id'] : null; }
    public function publicKey(): ?string { return is_string($this->fields['node']['public_key'] ?? null) ? $this->fields['node']['public_key'] : null; }

    /**
     * Verifies the receipt against what the caller expects.
     *
     * @return list<string> what was checked, human-readable, in order
     * @throws VerificationException naming the first check that failed
     */
    public function verify(Expect $expect): array
    {
        [$checks, $doc] = $this->verifyReceipt($expect);
        if ($expect->files !== null) {
            $checks[] = OutputFiles::check($doc->outputs ?? [], OutputFiles::ofBytes($expect->files));
        }
        return $checks;
    }

    /**
     * Verifies the receipt, then the files in `$dir` — a folder mirroring the guest's /out
     * (`/out/a/b.txt` is `$dir/a/b.txt`) — against its `outputs`: every regular file there must be
     * one the receipt lists, with its size and sha256, and every listed file must be there.
     * Files are hashed from disk (never read whole into memory), only when their size matches.
     *
     * @return list<string> what was checked, in order
     * @throws VerificationException naming the first check that failed
     */
    public function verifyDirectory(string $dir, Expect $expect): array
    {
        [$checks, $doc] = $this->verifyReceipt($expect);
        $listed = $doc->outputs ?? [];
        $checks[] = OutputFiles::check($listed, OutputFiles::ofDirectory($dir, $listed)) . " in {$dir}";
        return $checks;
    }

    /** The files the receipt lists (path, hash, bytes), sorted by path; empty when none. Unverified until `verify()`. @return list<array{path: string, hash: string, bytes: int}> */
    public function outputFiles(): array
    {
        $outputs = $this->fields['outputs'] ?? [];
        return is_array($outputs) ? array_values(array_filter($outputs, 'is_array')) : [];
    }

    /**
     * Every check but `outputs`.
     *
     * @return array{0: list<string>, 1: \stdClass} what was checked, and the verified document
     */
    private function verifyReceipt(Expect $expect): array
    {
        if (preg_match('/^[0-9a-f]{64}$/D', $expect->publicKey) !== 1) {
            throw new VerificationException('key', 'an expected public key (64 lowercase hex) is required to verify a receipt');
        }
        if (strlen($this->json) > self::MAX_BYTES) {
            throw new VerificationException('format', sprintf('receipt is %d bytes, more than the %d a valid one can take', strlen($this->json), self::MAX_BYTES));
        }
        try {
            $doc = CanonicalText::decode($this->json);
        } catch (\JsonException $e) {
            throw new VerificationException('format', 'receipt is not valid JSON: ' . $e->getMessage());
        }
        $violation = ReceiptFormat::violation($doc);
        if ($violation !== null) {
            throw new VerificationException('format', "receipt: {$violation}");
        }
        $why = CanonicalText::violation($this->json, $doc);
        if ($why !== null) {
            throw new VerificationException('canonical', "receipt is not in canonical form (RFC 8785): {$why}");
        }
        // The received bytes are now proven to be this text (but for a tolerated final line feed).
        $signed = SignedText::withoutSignature(Jcs::encode($doc));
        if ($signed === null) {
            throw new VerificationException('format', 'receipt: top-level members must not repeat');
        }
        $checks = ["format (receipt v{$doc->version})", 'canonical (RFC 8785, exact bytes)'];

        if ($doc->node->public_key !== $expect->publicKey) {
            throw new VerificationException('key', sprintf('receipt names key %s, expected %s', self::short($doc->node->public_key), self::short($expect->publicKey)));
        }
        $checks[] = 'key matches expected ' . self::short($expect->publicKey);
        if ($expect->peerId !== null) {
            if ($doc->node->peer_id !== $expect->peerId) {
                throw new VerificationException('peer_id', sprintf('receipt names node %s, expected %s', $doc->node->peer_id, substr($expect->peerId, 0, 100)));
            }
            $checks[] = "peer id {$expect->peerId}";
        }

        if (!self::signatureValid($doc->signature, self::DOMAIN . $signed, $expect->publicKey)) {
            throw new VerificationException('signature', 'the Ed25519 signature does not match the receipt and key');
        }
        $checks[] = 'signature (ed25519, phase-receipt:v1)';

        foreach (['job_id' => [$expect->jobId, 'job id'], 'nonce' => [$expect->nonce, 'nonce'], 'module_hash' => [$expect->moduleHash, 'module hash'], 'inputs_hash' => [$expect->inputsHash, 'inputs hash']] as $field => [$want, $label]) {
            if ($want === null) {
                continue;
            }
            if ($doc->{$field} !== $want) {
                throw new VerificationException($field, sprintf('%s is %s, expected %s', $label, $doc->{$field}, substr($want, 0, 100)));
            }
            $checks[] = $label;
        }
        foreach (['stdout' => $expect->stdout, 'stderr' => $expect->stderr] as $stream => $bytes) {
            if ($bytes === null) {
                continue;
            }
            $size = $doc->{"{$stream}_bytes"};
            if (strlen($bytes) !== $size) {
                throw new VerificationException("{$stream}_hash", sprintf('received %d %s bytes, the receipt says %d', strlen($bytes), $stream, $size));
            }
            if ('sha256:' . hash('sha256', $bytes) !== $doc->{"{$stream}_hash"}) {
                throw new VerificationException("{$stream}_hash", "the {$stream} bytes received do not match the receipt's {$stream} hash");
            }
            $checks[] = "{$stream} hash ({$size} bytes)";
        }
        return [$checks, $doc];
    }

    /** libsodium's strict Ed25519 (RFC 8032, no small-order keys), as the TS verifiers are configured. */
    public static function signatureValid(string $signatureHex, string $message, string $publicKeyHex): bool
    {
        try {
            return sodium_crypto_sign_verify_detached((string) hex2bin($signatureHex), $message, (string) hex2bin($publicKeyHex));
        } catch (\SodiumException) {
            return false;
        }
    }

    private function str(string $key): ?string
    {
        return is_string($this->fields[$key] ?? null) ? $this->fields[$key] : null;
    }

    private function int(string $key): ?int
    {
        return is_int($this->fields[$key] ?? null) ? $this->fields[$key] : null;
    }

    private static function short(string $key): string
    {
        return substr($key, 0, 8) . '…';
    }
}

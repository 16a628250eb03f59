<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\VerificationException;

/**
 * The outcome of a job: output bytes, exit code and status, who ran it, and the signed receipt
 * (as the exact text received). Nothing here is trusted until `verify()` has passed, which also
 * checks that `jobId`, `status` and `exitCode` are the receipt's own.
 */
final class Result
{
    /**
     * @param string      $stdout         exact stdout bytes (decoded from stdout_base64)
     * @param string|null $capabilityJson the runner's signed capability record, as received
     * @param string|null $targetPeerId   the peer the job was sent to, when the caller named one
     * @param list<array<string, mixed>> $replicas every replica's outcome (replicas > 1)
     */
    public function __construct(
        public readonly string $jobId,
        public readonly string $status,
        public readonly int $exitCode,
        public readonly string $stdout,
        public readonly string $stderr,
        public readonly string $peerId,
        public readonly Receipt $receipt,
        public readonly Manifest $manifest,
        public readonly ?string $capabilityJson = null,
        public readonly ?string $targetPeerId = null,
        public readonly ?int $agreeing = null,
        public readonly array $replicas = [],
    ) {
    }

    /** Wall time of the run in microseconds, from the receipt. */
    public function wallTimeUs(): ?int
    {
        return $this->receipt->wallTimeUs();
    }

    /** Wall time of the run in milliseconds, from the receipt. */
    public function wallTimeMs(): ?float
    {
        $us = $this->receipt->wallTimeUs();
        return $us === null ? null : $us / 1000;
    }

    /**
     * Verifies the receipt against everything this client knows: the key (pinned with
     * `$publicKey`, or else bound to the PeerId that ran the job by its signed capability
     * record), that PeerId, the job that was sent (id, nonce, module, inputs) and the output
     * bytes received — and, when `$files` is given, the files the job wrote (bytes by guest
     * path, `/out/report.txt` => bytes): exactly those the receipt lists, none missing or extra.
     *
     * @param string|null $publicKey receipt key to pin (64 hex), e.g. `$client->node()->receiptPublicKey`
     * @param array<string, string>|null $files the output files received, by guest path
     * @return list<string> what was checked, in order
     * @throws VerificationException
     */
    public function verify(?string $publicKey = null, ?int $nowMs = null, ?array $files = null): array
    {
        $expect = $this->expectations($publicKey, $nowMs);
        $checks = $this->receipt->verify($files === null ? $expect : $expect->files($files));
        return $this->reportedAsSigned($checks);
    }

    /**
     * `verify()`, with the output files taken from a folder mirroring the guest's /out
     * (`/out/a/b.txt` is `$dir/a/b.txt`, as written by `--output-dir`): every regular file there
     * must be one the receipt lists, at its size and sha256, and every listed file must be there.
     *
     * @return list<string> what was checked, in order
     * @throws VerificationException
     */
    public function verifyOutputDir(string $dir, ?string $publicKey = null, ?int $nowMs = null): array
    {
        return $this->reportedAsSigned($this->receipt->verifyDirectory($dir, $this->expectations($publicKey, $nowMs)));
    }

    /**
     * @param list<string> $checks
     * @return list<string>
     */
    private function reportedAsSigned(array $checks): array
    {
        // The job id, status and exit code reported are those of the receipt just verified: a
        // node (or a peer behind it) that says otherwise is refused like a bad signature.
        foreach (['job_id' => [$this->jobId, $this->receipt->jobId()], 'status' => [$this->status, $this->receipt->status()], 'exit_code' => [$this->exitCode, $this->receipt->exitCode()]] as $field => [$said, $signed]) {
            if ($said !== $signed) {
                throw new VerificationException($field, sprintf('the node reports %s %s, the verified receipt says %s', $field, substr((string) $said, 0, 80), substr((string) $signed, 0, 80)));
            }
        }
        $checks[] = 'job id, status and exit code as reported';
        return $checks;
    }

    /**
     * Verifies every replica on its own: its receipt against the key its own capability record
     * binds to its PeerId, the job that was sent, and that the status, exit code and stdout hash
     * reported for it are the receipt's. A failed run (no receipt) is not verified.
     *
     * @return list<array{peer_id: string, verified: bool, status: ?string, exit_code: ?int, checks?: list<string>, reason?: string}>
     *         status and exit_code from the verified receipt (as reported when not verified)
     */
    public function verifyReplicas(?int $nowMs = null): array
    {
        $out = [];
        foreach ($this->replicas as $r) {
            $peerId = is_string($r['peer_id'] ?? null) ? $r['peer_id'] : '';
            $said = ['status' => is_string($r['status'] ?? null) ? $r['status'] : null, 'exit_code' => is_int($r['exit_code'] ?? null) ? $r['exit_code'] : null];
            try {
                if (!is_string($r['receipt_json'] ?? null) || $r['receipt_json'] === '') {
                    throw new VerificationException('format', 'the run failed: ' . (is_string($r['error_code'] ?? null) ? $r['error_code'] : 'no receipt'));
                }
                if (!is_string($r['capability_json'] ?? null)) {
                    throw new VerificationException('key', 'no capability record binds this replica\'s PeerId to a receipt key');
                }
                $receipt = Receipt::fromJson($r['receipt_json']);
                $checks = $receipt->verify(Expect::peer($peerId, $r['capability_json'], $nowMs)->job($this->manifest));
                foreach (['status' => $receipt->status(), 'exit_code' => $receipt->exitCode()] as $field => $signed) {
                    if ($said[$field] !== $signed) {
                        throw new VerificationException($field, sprintf('the node reports %s %s for this replica, its receipt says %s', $field, substr((string) $said[$field], 0, 80), substr((string) $signed, 0, 80)));
                    }
                }
                if (($r['stdout_hash'] ?? null) !== $receipt->toArray()['stdout_hash']) {
                    throw new VerificationException('stdout_hash', 'the node reports another stdout hash for this replica than its receipt');
                }
                $out[] = ['peer_id' => $peerId, 'verified' => true, 'status' => $receipt->status(), 'exit_code' => $receipt->exitCode(), 'checks' => $checks];
            } catch (VerificationException $e) {
                $out[] = ['peer_id' => $peerId, 'verified' => false, 'status' => $said['status'], 'exit_code' => $said['exit_code'], 'reason' => $e->getMessage()];
            }
        }
        return $out;
    }

    /** The expectations `verify()` uses. @throws VerificationException when no key can be had */
    public function expectations(?string $publicKey = null, ?int $nowMs = null): Expect
    {
        $peerId = $this->targetPeerId ?? $this->peerId;
        if ($publicKey !== null) {
            $expect = Expect::key($publicKey)->peerId($peerId);
        } elseif ($this->capabilityJson !== null) {
            $expect = Expect::peer($peerId, $this->capabilityJson, $nowMs);
        } else {
            throw new VerificationException('key', 'no expected key: pin the node\'s receipt key (Client::node()->receiptPublicKey) or run on a node that sends its capability record');
        }
        return $expect->job($this->manifest)->outputs($this->stdout, $this->stderr);
    }
}

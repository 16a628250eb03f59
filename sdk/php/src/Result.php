<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\VerificationException;

/**
 * The outcome of a job: output bytes, exit code and status, who ran it, and the signed receipt
 * (as the exact text received). Nothing here is trusted until `verify()` has passed.
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
     * bytes received.
     *
     * @param string|null $publicKey receipt key to pin (64 hex), e.g. `$client->node()->receiptPublicKey`
     * @return list<string> what was checked, in order
     * @throws VerificationException
     */
    public function verify(?string $publicKey = null, ?int $nowMs = null): array
    {
        return $this->receipt->verify($this->expectations($publicKey, $nowMs));
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

<?php
declare(strict_types=1);

namespace Phase;

/**
 * What a verifier expects of a receipt. The receipt key is required — "the signature is
 * valid" is not "I trust this result" (DESIGN §3): pin it (`Expect::key`) or take it from the
 * capability record the peer signed with its libp2p key (`Expect::peer`). Every other field is
 * checked only when given; `job()` and `outputs()` fill them from what the caller sent and got.
 */
final class Expect
{
    /**
     * @param string      $publicKey  receipt key, 64 lowercase hex
     * @param string|null $peerId     the node identity the receipt must name
     * @param string|null $stdout     the stdout bytes received (checked against hash and size)
     * @param string|null $stderr     the stderr bytes received
     * @param array<string, string>|null $files the files received from /out, bytes by guest path
     *                                          (`/out/<rel>`): exactly the receipt's `outputs`
     */
    public function __construct(
        public readonly string $publicKey,
        public readonly ?string $peerId = null,
        public readonly ?string $jobId = null,
        public readonly ?string $nonce = null,
        public readonly ?string $moduleHash = null,
        public readonly ?string $inputsHash = null,
        public readonly ?string $stdout = null,
        public readonly ?string $stderr = null,
        public readonly ?array $files = null,
    ) {
    }

    /** A pinned receipt key (64 lowercase hex), e.g. your own node's from `Client::node()`. */
    public static function key(string $publicKey): self
    {
        return new self($publicKey);
    }

    /**
     * The receipt key that `$peerId` bound to itself in its signed capability record (the
     * `capability_json` text of a job response). Verifies the record first: it must name that
     * peer, carry a valid signature of the peer's own key and not have expired.
     *
     * @throws Exception\VerificationException
     */
    public static function peer(string $peerId, string $capabilityJson, ?int $nowMs = null): self
    {
        $record = CapabilityRecord::verify($capabilityJson, $peerId, $nowMs);
        return new self($record->receiptPublicKey, $peerId);
    }

    /** Also expect the job that was sent: its id, nonce, module hash and inputs hash. */
    public function job(Manifest $manifest): self
    {
        return $this->with(['jobId' => $manifest->jobId(), 'nonce' => $manifest->getNonce(), 'moduleHash' => $manifest->moduleHash(), 'inputsHash' => $manifest->inputsHash()]);
    }

    /** Also expect these output bytes (null: that stream is not checked). */
    public function outputs(?string $stdout, ?string $stderr = null): self
    {
        return $this->with(['stdout' => $stdout, 'stderr' => $stderr]);
    }

    /**
     * Also expect these output files — bytes by guest path (`/out/report.txt` => bytes) — to be
     * exactly those the receipt lists (none missing, none extra; an empty array: no files).
     *
     * @param array<string, string> $files
     */
    public function files(array $files): self
    {
        return $this->with(['files' => $files]);
    }

    /** Also expect this node identity. */
    public function peerId(string $peerId): self
    {
        return $this->with(['peerId' => $peerId]);
    }

    /** @param array<string, mixed> $changes */
    private function with(array $changes): self
    {
        return new self(...array_merge(get_object_vars($this), $changes));
    }
}

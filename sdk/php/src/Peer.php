<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\TransportException;

/**
 * A peer the node is connected to, as `GET /v1/peers` (and `phase peers --json`) shows it. Its
 * strings came from the peer or its signed record: escape them before printing to a terminal.
 * The reputation is what the node verified itself (receipts, replica agreement, failures,
 * refusals), decayed by age: a score in [0, 1], higher is better.
 */
final class Peer
{
    /**
     * @param list<string>         $runtimes   "name@version"
     * @param list<string>         $addresses  multiaddrs
     * @param array<string, float> $reputation score, receipts_verified, receipts_refused, replica_disagreements, failures, refusals
     */
    public function __construct(
        public readonly string $peerId,
        public readonly string $transport,
        public readonly ?float $latencyMs,
        public readonly bool $runsJobs,
        public readonly ?string $receiptPublicKey,
        public readonly array $runtimes,
        public readonly int $successes,
        public readonly int $failures,
        public readonly array $addresses,
        public readonly ?string $agentVersion,
        public readonly array $reputation,
    ) {
    }

    /** The score in [0, 1] from the node's own evidence. */
    public function score(): float
    {
        return $this->reputation['score'];
    }

    /** @param mixed $d one entry of `peers` */
    public static function fromJson(mixed $d): self
    {
        $strings = static fn (mixed $v): bool => is_array($v) && array_is_list($v) && count(array_filter($v, 'is_string')) === count($v);
        $r = is_array($d) ? ($d['reputation'] ?? null) : null;
        $names = ['score', 'receipts_verified', 'receipts_refused', 'replica_disagreements', 'failures', 'refusals'];
        if (!is_array($d) || !is_string($d['peer_id'] ?? null) || !is_string($d['transport'] ?? null) || !is_bool($d['runs_jobs'] ?? null)
            || !is_int($d['successes'] ?? null) || !is_int($d['failures'] ?? null) || !$strings($d['runtimes'] ?? null) || !$strings($d['addresses'] ?? null)
            || !is_array($r) || count(array_filter($names, static fn (string $n): bool => is_int($r[$n] ?? null) || is_float($r[$n] ?? null))) !== count($names)) {
            throw new TransportException('GET /v1/peers answered a peer without the documented fields');
        }
        $latency = $d['latency_ms'] ?? null;
        $key = $d['receipt_public_key'] ?? null;
        $agent = $d['agent_version'] ?? null;
        return new self(
            $d['peer_id'],
            $d['transport'],
            is_int($latency) || is_float($latency) ? (float) $latency : null,
            $d['runs_jobs'],
            is_string($key) ? $key : null,
            $d['runtimes'],
            $d['successes'],
            $d['failures'],
            $d['addresses'],
            is_string($agent) ? $agent : null,
            array_map('floatval', array_intersect_key($r, array_flip($names))),
        );
    }
}

<?php
declare(strict_types=1);

namespace Phase;

/** What `GET /v1/node` says about the node the client talks to. */
final class NodeInfo
{
    /**
     * @param array<string, mixed>      $runtime  { name, version }
     * @param array<string, mixed>|null $network  p2p counters, null when the node is off the network
     */
    public function __construct(
        public readonly string $peerId,
        public readonly string $receiptPublicKey,
        public readonly string $version,
        public readonly int $executors,
        public readonly array $runtime,
        public readonly ?array $network,
    ) {
    }
}

<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\VerificationException;
use Phase\Internal\CanonicalText;
use Phase\Internal\Jcs;
use Phase\Internal\SignedText;

/**
 * A node's signed capability record (schemas/capability.schema.json): binds its PeerId to its
 * receipt key. Signed with the peer's libp2p Ed25519 key — which the PeerId itself embeds —
 * over "phase-capability:v1:" || JCS(record without signature); checked on the text received,
 * which must be exactly the record's canonical JSON (RFC 8785, as for receipts).
 */
final class CapabilityRecord
{
    public const DOMAIN = 'phase-capability:v1:';
    private const FIELDS = ['version', 'peer_id', 'receipt_public_key', 'runtimes', 'arch', 'cores', 'memory_mb', 'limits', 'queue_depth', 'protocols', 'issued_at', 'expires_at', 'signature'];

    /** @param array<string, mixed> $fields */
    private function __construct(
        public readonly string $peerId,
        public readonly string $receiptPublicKey,
        public readonly int $issuedAt,
        public readonly int $expiresAt,
        public readonly array $fields,
    ) {
    }

    /**
     * Checks a record received for `$expectedPeerId`: format, canonical bytes, that it names that peer, that the
     * peer's own key signed it, and that it has not expired (`$nowMs`: Unix ms, default now).
     *
     * @throws VerificationException check "format", "canonical", "peer_id", "signature" or "expired"
     */
    public static function verify(string $json, string $expectedPeerId, ?int $nowMs = null): self
    {
        try {
            // Objects as stdClass for the canonical check (an empty {} stays an object), arrays for the rest.
            $doc = CanonicalText::decode($json);
            $r = CanonicalText::decode($json, true);
        } catch (\JsonException) {
            $doc = $r = null;
        }
        if (!is_array($r) || array_is_list($r)) {
            throw new VerificationException('format', 'capability record is not a JSON object');
        }
        $unknown = array_diff(array_map('strval', array_keys($r)), self::FIELDS);
        $missing = array_diff(self::FIELDS, array_keys($r));
        if ($unknown !== [] || $missing !== [] || $r['version'] !== 1 || !is_string($r['peer_id'])
            || !is_string($r['receipt_public_key']) || preg_match('/^[0-9a-f]{64}$/D', $r['receipt_public_key']) !== 1
            || !is_string($r['signature']) || preg_match('/^[0-9a-f]{128}$/D', $r['signature']) !== 1
            || !is_int($r['issued_at']) || !is_int($r['expires_at']) || self::holdsFloat($r)) {
            throw new VerificationException('format', 'capability record does not follow schemas/capability.schema.json');
        }
        $why = CanonicalText::violation($json, $doc);
        if ($why !== null) {
            throw new VerificationException('canonical', "capability record is not in canonical form (RFC 8785): {$why}");
        }
        if ($r['peer_id'] !== $expectedPeerId) {
            throw new VerificationException('peer_id', sprintf('capability record names %s, dialed %s', $r['peer_id'], substr($expectedPeerId, 0, 100)));
        }
        $peerKey = PeerId::publicKey($expectedPeerId);
        $signed = SignedText::withoutSignature(Jcs::encode($doc));
        if ($signed === null || !Receipt::signatureValid($r['signature'], self::DOMAIN . $signed, bin2hex($peerKey))) {
            throw new VerificationException('signature', "capability record of {$expectedPeerId} is not signed by that peer's key");
        }
        if ($r['expires_at'] <= ($nowMs ?? (int) floor(microtime(true) * 1000))) {
            throw new VerificationException('expired', "capability record of {$expectedPeerId} expired");
        }
        return new self($r['peer_id'], $r['receipt_public_key'], $r['issued_at'], $r['expires_at'], $r);
    }

    /** Integers only, as the TS core requires (CanonicalText::decode already made integral floats up to 2^53 integers). */
    private static function holdsFloat(mixed $v): bool
    {
        if (is_float($v)) {
            return true;
        }
        if (is_array($v)) {
            foreach ($v as $x) {
                if (self::holdsFloat($x)) {
                    return true;
                }
            }
        }
        return false;
    }
}

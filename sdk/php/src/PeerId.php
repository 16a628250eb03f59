<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\VerificationException;

/**
 * libp2p Ed25519 PeerIds ("12D3KooW…"): base58btc of an identity multihash of the protobuf
 * PublicKey { Type = Ed25519 (1), Data = 32 bytes }. The PeerId embeds its public key, so a
 * verifier needs nothing but the PeerId string to check what that peer signed.
 */
final class PeerId
{
    private const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    /** identity multihash (0x00, length 36) + protobuf field 1 = 1 (Ed25519), field 2 = 32 bytes. */
    private const ED25519_PREFIX = "\x00\x24\x08\x01\x12\x20";

    /** The raw 32-byte Ed25519 key inside an Ed25519 PeerId; throws (check "peer_id") for anything else. */
    public static function publicKey(string $peerId): string
    {
        $bytes = self::base58Decode($peerId);
        if ($bytes === null || strlen($bytes) !== 38 || !str_starts_with($bytes, self::ED25519_PREFIX)) {
            throw new VerificationException('peer_id', sprintf('%s is not an Ed25519 PeerId', substr($peerId, 0, 100)));
        }
        return substr($bytes, 6);
    }

    /** The PeerId of a raw 32-byte Ed25519 public key. */
    public static function fromPublicKey(string $rawKey): string
    {
        if (strlen($rawKey) !== 32) {
            throw new \InvalidArgumentException('an Ed25519 public key is 32 bytes');
        }
        return self::base58Encode(self::ED25519_PREFIX . $rawKey);
    }

    private static function base58Decode(string $text): ?string
    {
        if ($text === '' || strspn($text, self::ALPHABET) !== strlen($text) || strlen($text) > 200) {
            return null;
        }
        $bytes = []; // little-endian base 256
        foreach (str_split($text) as $char) {
            $carry = strpos(self::ALPHABET, $char);
            foreach ($bytes as $j => $b) {
                $carry += $b * 58;
                $bytes[$j] = $carry & 0xFF;
                $carry >>= 8;
            }
            while ($carry > 0) {
                $bytes[] = $carry & 0xFF;
                $carry >>= 8;
            }
        }
        $zeros = strspn($text, '1');
        return str_repeat("\x00", $zeros) . implode('', array_map('chr', array_reverse($bytes)));
    }

    private static function base58Encode(string $raw): string
    {
        $digits = []; // little-endian base 58
        foreach (unpack('C*', $raw) as $byte) {
            $carry = $byte;
            foreach ($digits as $j => $d) {
                $carry += $d << 8;
                $digits[$j] = $carry % 58;
                $carry = intdiv($carry, 58);
            }
            while ($carry > 0) {
                $digits[] = $carry % 58;
                $carry = intdiv($carry, 58);
            }
        }
        $zeros = strspn($raw, "\x00");
        return str_repeat('1', $zeros) . implode('', array_map(static fn (int $d): string => self::ALPHABET[$d], array_reverse($digits)));
    }
}

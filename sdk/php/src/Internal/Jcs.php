<?php
declare(strict_types=1);

namespace Phase\Internal;

/**
 * RFC 8785 canonical JSON for the documents PHP builds itself — manifests and the inputs
 * object — which hold only strings, integers, lists and objects. Hashing uses it (job id,
 * inputs hash); signatures never do: they are checked on the bytes received (PHP's own
 * json_encode differs from RFC 8785 on numbers, e.g. 1.0e+30).
 *
 * PHP lists become JSON arrays, other arrays and objects (stdClass) JSON objects, so an empty
 * object must be passed as `new \stdClass()`.
 *
 * @internal
 */
final class Jcs
{
    public static function encode(mixed $value): string
    {
        return match (true) {
            $value === null => 'null',
            is_bool($value) => $value ? 'true' : 'false',
            is_int($value) => (string) $value,
            is_string($value) => self::string($value),
            is_array($value) && array_is_list($value) => '[' . implode(',', array_map(self::encode(...), $value)) . ']',
            is_array($value) => self::object($value),
            $value instanceof \stdClass => self::object(get_object_vars($value)),
            default => throw new \InvalidArgumentException('canonical JSON here carries only strings, integers, booleans, null, lists and objects, not ' . get_debug_type($value)),
        };
    }

    /** @param array<array-key, mixed> $members */
    private static function object(array $members): string
    {
        $keys = array_map('strval', array_keys($members));
        // RFC 8785 §3.2.3: members sorted by their names as UTF-16 code units.
        usort($keys, static fn (string $a, string $b): int => strcmp(self::utf16($a), self::utf16($b)));
        $parts = [];
        foreach ($keys as $key) {
            $parts[] = self::string($key) . ':' . self::encode($members[$key]);
        }
        return '{' . implode(',', $parts) . '}';
    }

    /** RFC 8785 §3.2.2.2 (ECMAScript JSON.stringify): only '"', '\' and C0 controls are escaped. */
    public static function string(string $value): string
    {
        if (preg_match('//u', $value) !== 1) {
            throw new \InvalidArgumentException('string is not valid UTF-8');
        }
        return '"' . preg_replace_callback('/[\x00-\x1f"\\\\]/', static function (array $m): string {
            return match ($m[0]) {
                '"' => '\\"',
                '\\' => '\\\\',
                "\x08" => '\\b',
                "\t" => '\\t',
                "\n" => '\\n',
                "\x0c" => '\\f',
                "\r" => '\\r',
                default => sprintf('\\u%04x', ord($m[0])),
            };
        }, $value) . '"';
    }

    /** UTF-16BE form of valid UTF-8: byte order of this string is code-unit order. */
    public static function utf16(string $utf8): string
    {
        $out = '';
        foreach (self::codePoints($utf8) as $cp) {
            if ($cp < 0x10000) {
                $out .= pack('n', $cp);
            } else {
                $cp -= 0x10000;
                $out .= pack('nn', 0xD800 | ($cp >> 10), 0xDC00 | ($cp & 0x3FF));
            }
        }
        return $out;
    }

    /** Length in UTF-16 code units, as JavaScript and JSON Schema's maxLength count it. */
    public static function utf16Length(string $utf8): int
    {
        return intdiv(strlen(self::utf16($utf8)), 2);
    }

    /** @return list<int> */
    private static function codePoints(string $utf8): array
    {
        $chars = preg_split('//u', $utf8, -1, PREG_SPLIT_NO_EMPTY);
        if ($chars === false) {
            throw new \InvalidArgumentException('string is not valid UTF-8');
        }
        $out = [];
        foreach ($chars as $c) {
            $b = array_values(unpack('C*', $c));
            $out[] = match (count($b)) {
                1 => $b[0],
                2 => (($b[0] & 0x1F) << 6) | ($b[1] & 0x3F),
                3 => (($b[0] & 0x0F) << 12) | (($b[1] & 0x3F) << 6) | ($b[2] & 0x3F),
                default => (($b[0] & 0x07) << 18) | (($b[1] & 0x3F) << 12) | (($b[2] & 0x3F) << 6) | ($b[3] & 0x3F),
            };
        }
        return $out;
    }
}

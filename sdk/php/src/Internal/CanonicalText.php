<?php
declare(strict_types=1);

namespace Phase\Internal;

/**
 * A signed document as received: read once, then proven to be the one canonical spelling
 * (RFC 8785) of what it parses to — the same rule, in the same order, as the TypeScript core
 * (services/core/src/documents/received.ts). JSON has many spellings of one value (whitespace,
 * member order, `\u` escapes, `17.0` for 17) and lets a member name repeat, which readers
 * resolve differently; only the canonical bytes have one reading, the one that was signed.
 *
 * @internal
 */
final class CanonicalText
{
    private const BOM = "\xEF\xBB\xBF";
    /** Integral floats up to 2^53 are integers, as JSON.parse + JSON Schema's "integer" see them. */
    private const MAX_EXACT = 9007199254740992.0;

    /**
     * Decodes received text the way the TypeScript verifiers do: a leading byte order mark is
     * skipped (so `violation` can name it rather than "not JSON"), and a number written with a
     * fraction or exponent that is an integer (`17.0`, `5e3`) decodes as that integer, so the
     * format check agrees and the canonical check is the one that refuses the spelling.
     *
     * @throws \JsonException
     */
    public static function decode(string $json, bool $assoc = false): mixed
    {
        $body = str_starts_with($json, self::BOM) ? substr($json, 3) : $json;
        return self::integers(json_decode($body, $assoc, 64, JSON_THROW_ON_ERROR));
    }

    /**
     * Why `$json` is not exactly the canonical JSON of `$doc`, the value it decoded to (one
     * trailing line feed tolerated, as files end with one); null when it is.
     */
    public static function violation(string $json, mixed $doc): ?string
    {
        try {
            $canonical = Jcs::encode($doc);
        } catch (\InvalidArgumentException $e) {
            return 'it holds a value with no canonical form here: ' . $e->getMessage();
        }
        if ($json === $canonical || $json === $canonical . "\n") {
            return null;
        }
        if (str_starts_with($json, self::BOM)) {
            return 'it starts with a byte order mark (U+FEFF)';
        }
        $repeated = self::repeatedMember($json);
        if ($repeated !== null) {
            return "member {$repeated} appears more than once";
        }
        $i = strspn($json ^ $canonical, "\0");
        if ($i === strlen($canonical)) {
            return sprintf('%s follows the document at byte %d', json_encode(substr($json, $i, 12), JSON_INVALID_UTF8_SUBSTITUTE), $i);
        }
        $show = static fn (string $s): string => (string) json_encode(substr($s, $i, 12), JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES);
        return sprintf('at byte %d it has %s where the canonical form has %s', $i, $show($json), $show($canonical));
    }

    /**
     * JSON pointer of the first member whose name repeats in its object, at any depth, or null.
     * `$json` must be JSON that decoded (a BOM and surrounding whitespace allowed).
     */
    public static function repeatedMember(string $json): ?string
    {
        /** @var list<array{path: string, names: array<string, true>|null, expectName: bool, at: string}> $stack */
        $stack = [];
        $n = strlen($json);
        $childPath = static function () use (&$stack): string {
            $top = end($stack);
            return $top === false ? '' : $top['path'] . '/' . self::escapePointer($top['at']);
        };
        for ($i = 0; $i < $n; $i++) {
            $c = $json[$i];
            $top = count($stack) - 1;
            if ($c === '"') {
                $end = $i + 1;
                while ($end < $n && $json[$end] !== '"') {
                    $end += $json[$end] === '\\' ? 2 : 1;
                }
                if ($end >= $n) {
                    return null; // unterminated: not JSON (callers decode first)
                }
                if ($top >= 0 && $stack[$top]['names'] !== null && $stack[$top]['expectName']) {
                    $name = (string) json_decode(substr($json, $i, $end - $i + 1));
                    if (isset($stack[$top]['names'][$name])) {
                        return $stack[$top]['path'] . '/' . self::escapePointer($name);
                    }
                    $stack[$top]['names'][$name] = true;
                    $stack[$top]['at'] = $name;
                    $stack[$top]['expectName'] = false;
                }
                $i = $end;
            } elseif ($c === '{') {
                $stack[] = ['path' => $childPath(), 'names' => [], 'expectName' => true, 'at' => ''];
            } elseif ($c === '[') {
                $stack[] = ['path' => $childPath(), 'names' => null, 'expectName' => false, 'at' => '0'];
            } elseif ($c === '}' || $c === ']') {
                array_pop($stack);
            } elseif ($c === ',' && $top >= 0) {
                if ($stack[$top]['names'] !== null) {
                    $stack[$top]['expectName'] = true;
                } else {
                    $stack[$top]['at'] = (string) ((int) $stack[$top]['at'] + 1);
                }
            }
        }
        return null;
    }

    private static function integers(mixed $v): mixed
    {
        if (is_float($v) && floor($v) === $v && abs($v) <= self::MAX_EXACT) {
            return (int) $v;
        }
        if (is_array($v)) {
            return array_map(self::integers(...), $v);
        }
        if ($v instanceof \stdClass) {
            foreach (get_object_vars($v) as $k => $x) {
                $v->{$k} = self::integers($x);
            }
        }
        return $v;
    }

    private static function escapePointer(string $token): string
    {
        return str_replace(['~', '/'], ['~0', '~1'], $token);
    }
}

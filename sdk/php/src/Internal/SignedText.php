<?php
declare(strict_types=1);

namespace Phase\Internal;

/**
 * The bytes a signature covers, cut out of the JSON text as received — never re-encoded.
 *
 * Receipts and capability records are signed over JCS(document without "signature"). JCS
 * sorts members and "signature" is a top-level string, so the signed text is the received
 * canonical text with that one member (and one adjacent comma) removed. This scanner finds it
 * structurally (strings and nesting are tracked), so text inside a string value can never be
 * mistaken for it, and refuses a text whose top-level member names repeat.
 *
 * @internal
 */
final class SignedText
{
    /**
     * @return string|null the text without its top-level "signature" member, or null when the
     *                     text is not one JSON object with exactly one such member and no
     *                     repeated top-level member names
     */
    public static function withoutSignature(string $json): ?string
    {
        $n = strlen($json);
        $i = self::skipSpace($json, 0);
        if ($i >= $n || $json[$i] !== '{') {
            return null;
        }
        $i++;
        $seen = [];
        $cut = null;
        while (true) {
            $i = self::skipSpace($json, $i);
            if ($i < $n && $json[$i] === '}' && $seen === []) {
                break;
            }
            $memberStart = $i;
            $keyEnd = self::skipString($json, $i);
            if ($keyEnd === null) {
                return null;
            }
            $key = json_decode(substr($json, $i, $keyEnd - $i));
            if (!is_string($key) || isset($seen[$key])) {
                return null;
            }
            $seen[$key] = true;
            $i = self::skipSpace($json, $keyEnd);
            if ($i >= $n || $json[$i] !== ':') {
                return null;
            }
            $valueEnd = self::skipValue($json, self::skipSpace($json, $i + 1));
            if ($valueEnd === null) {
                return null;
            }
            $i = self::skipSpace($json, $valueEnd);
            if ($i >= $n) {
                return null;
            }
            $last = $json[$i] === '}';
            if (!$last && $json[$i] !== ',') {
                return null;
            }
            if ($key === 'signature') {
                $cut = ['start' => $memberStart, 'end' => $valueEnd, 'last' => $last, 'first' => count($seen) === 1, 'next' => $i];
            }
            $i++;
            if ($last) {
                break;
            }
        }
        if ($cut === null || self::skipSpace($json, $i) !== $n) {
            return null;
        }
        if (!$cut['last']) {
            // `"signature":…,` — drop the member and the comma after it.
            return substr($json, 0, $cut['start']) . substr($json, self::skipSpace($json, $cut['next'] + 1));
        }
        if ($cut['first']) {
            return substr($json, 0, $cut['start']) . substr($json, $cut['end']);
        }
        // Last member: drop the comma before it.
        $comma = strrpos(substr($json, 0, $cut['start']), ',');
        return substr($json, 0, (int) $comma) . substr($json, $cut['end']);
    }

    private static function skipSpace(string $s, int $i): int
    {
        return $i + strspn($s, " \t\n\r", $i);
    }

    /** End (exclusive) of the JSON string starting at $i, or null. */
    private static function skipString(string $s, int $i): ?int
    {
        $n = strlen($s);
        if ($i >= $n || $s[$i] !== '"') {
            return null;
        }
        for ($i++; $i < $n; $i++) {
            if ($s[$i] === '\\') {
                $i++;
            } elseif ($s[$i] === '"') {
                return $i + 1;
            }
        }
        return null;
    }

    /** End (exclusive) of the JSON value starting at $i, or null (the text was already parsed). */
    private static function skipValue(string $s, int $i): ?int
    {
        $n = strlen($s);
        if ($i >= $n) {
            return null;
        }
        if ($s[$i] === '"') {
            return self::skipString($s, $i);
        }
        if ($s[$i] === '{' || $s[$i] === '[') {
            $depth = 0;
            for (; $i < $n; $i++) {
                $c = $s[$i];
                if ($c === '"') {
                    $end = self::skipString($s, $i);
                    if ($end === null) {
                        return null;
                    }
                    $i = $end - 1;
                } elseif ($c === '{' || $c === '[') {
                    $depth++;
                } elseif ($c === '}' || $c === ']') {
                    if (--$depth === 0) {
                        return $i + 1;
                    }
                }
            }
            return null;
        }
        // Number, true, false, null.
        $len = strcspn($s, ",}] \t\n\r", $i);
        return $len === 0 ? null : $i + $len;
    }
}

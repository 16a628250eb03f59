<?php
declare(strict_types=1);

namespace Phase\Internal;

/**
 * schemas/receipt.schema.json, checked by hand (PHP has no JSON Schema validator in its
 * standard extensions). Returns the first violation as a message, or null when the document
 * is a well-formed signed receipt.
 *
 * @internal
 */
final class ReceiptFormat
{
    private const HASH = '/^sha256:[0-9a-f]{64}$/D';
    private const TIME = '/^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?Z$/D';
    private const MAX_COUNT = 9007199254740991;
    private const STATUSES = ['ok', 'exit', 'trap', 'timeout', 'memory_limit', 'output_limit', 'fuel_exhausted'];
    private const FIELDS = ['version', 'job_id', 'nonce', 'module_hash', 'inputs_hash', 'stdout_hash', 'stdout_bytes', 'stderr_hash', 'stderr_bytes',
        'status', 'exit_code', 'limits', 'wall_time_us', 'cpu_time_us', 'started_at', 'finished_at', 'node', 'runtime', 'signature'];
    /** Members present only when they apply (issue 12): output files, fuel, profile, trap reason, compile time. */
    private const OPTIONAL = ['outputs', 'fuel_used', 'profile', 'trap', 'compile_time_us'];
    private const TRAPS = ['unreachable', 'stack_overflow', 'memory_out_of_bounds', 'table_out_of_bounds', 'indirect_call_mismatch', 'null_reference',
        'divide_by_zero', 'integer_overflow', 'invalid_conversion', 'cast_failure', 'uncaught_exception', 'other'];
    /** The schema's output path: /out/<segments>, no "." or ".." segment, at most 255 characters (ASCII, so bytes). */
    private const OUTPUT_PATH = '#^/out(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)+$#D';
    private const MAX_OUTPUTS = 256;

    /** @param mixed $doc json_decode'd without `assoc` (objects are stdClass) */
    public static function violation(mixed $doc): ?string
    {
        if (!$doc instanceof \stdClass) {
            return 'a receipt must be a JSON object';
        }
        $r = get_object_vars($doc);
        if (($bad = self::members($r, self::FIELDS, '', self::OPTIONAL)) !== null) {
            return $bad;
        }
        if ($r['version'] !== 1) {
            return '/version must be 1';
        }
        foreach (['job_id', 'module_hash', 'inputs_hash', 'stdout_hash', 'stderr_hash'] as $f) {
            if (!self::matches($r[$f], self::HASH)) {
                return "/{$f} must be sha256:<64 lowercase hex>";
            }
        }
        if (!self::matches($r['nonce'], '/^[0-9a-f]{32,64}$/D')) {
            return '/nonce must be 32 to 64 lowercase hex digits';
        }
        foreach (['stdout_bytes', 'stderr_bytes', 'wall_time_us', 'cpu_time_us'] as $f) {
            if (!self::isCount($r[$f])) {
                return "/{$f} must be a non-negative integer";
            }
        }
        if (!in_array($r['status'], self::STATUSES, true)) {
            return '/status must be one of ' . implode(', ', self::STATUSES);
        }
        if (!is_int($r['exit_code']) || $r['exit_code'] < -1 || $r['exit_code'] > 4294967295) {
            return '/exit_code must be an integer from -1 to 4294967295';
        }
        foreach (['started_at', 'finished_at'] as $f) {
            if (!self::matches($r[$f], self::TIME)) {
                return "/{$f} must be an RFC 3339 UTC time";
            }
        }
        if (!$r['limits'] instanceof \stdClass) {
            return '/limits must be an object';
        }
        $limits = get_object_vars($r['limits']);
        if (($bad = self::members($limits, ['memory_bytes', 'timeout_ms', 'output_bytes'], '/limits', ['fuel'])) !== null) {
            return $bad;
        }
        foreach ($limits as $f => $v) {
            if (!self::isCount($v)) {
                return "/limits/{$f} must be a non-negative integer";
            }
        }
        if (!$r['node'] instanceof \stdClass) {
            return '/node must be an object';
        }
        $node = get_object_vars($r['node']);
        if (($bad = self::members($node, ['peer_id', 'public_key'], '/node')) !== null) {
            return $bad;
        }
        if (!self::matches($node['peer_id'], '/^[1-9A-HJ-NP-Za-km-z]{40,100}$/D')) {
            return '/node/peer_id must be a base58 PeerId';
        }
        if (!self::matches($node['public_key'], '/^[0-9a-f]{64}$/D')) {
            return '/node/public_key must be 64 lowercase hex digits';
        }
        if (!$r['runtime'] instanceof \stdClass) {
            return '/runtime must be an object';
        }
        $runtime = get_object_vars($r['runtime']);
        if (($bad = self::members($runtime, ['name', 'version'], '/runtime')) !== null) {
            return $bad;
        }
        foreach ($runtime as $f => $v) {
            if (!is_string($v) || $v === '' || Jcs::utf16Length($v) > 64) {
                return "/runtime/{$f} must be a string of 1 to 64 characters";
            }
        }
        if (!self::matches($r['signature'], '/^[0-9a-f]{128}$/D')) {
            return '/signature must be 128 lowercase hex digits';
        }
        return self::issue12($r, $limits);
    }

    /**
     * The optional members and the rules that tie them together: the schema's dependentSchemas
     * and if/then (trap only with status trap; fuel_used, the deterministic profile and status
     * fuel_exhausted only when metered, i.e. with limits.fuel), and what the schema
     * cannot say: outputs strictly increasing by path (sorted, each path once).
     *
     * @param array<string, mixed> $r
     * @param array<string, mixed> $limits
     */
    private static function issue12(array $r, array $limits): ?string
    {
        foreach (['fuel_used', 'compile_time_us'] as $f) {
            if (array_key_exists($f, $r) && !self::isCount($r[$f])) {
                return "/{$f} must be a non-negative integer";
            }
        }
        if (array_key_exists('profile', $r) && $r['profile'] !== 'deterministic') {
            return '/profile must be "deterministic" (the default profile is stated by its absence)';
        }
        if (array_key_exists('trap', $r)) {
            if (!in_array($r['trap'], self::TRAPS, true)) {
                return '/trap must be one of ' . implode(', ', self::TRAPS);
            }
            if ($r['status'] !== 'trap') {
                return '/trap is only for status trap';
            }
        }
        // Metered: limits.fuel. fuel_used may be absent (a count not known, e.g. at a time limit), never alone.
        if (!array_key_exists('fuel', $limits) && (array_key_exists('fuel_used', $r) || array_key_exists('profile', $r) || $r['status'] === 'fuel_exhausted')) {
            return '/limits/fuel is required: fuel_used, the deterministic profile and status fuel_exhausted are metered';
        }
        if (!array_key_exists('outputs', $r)) {
            return null;
        }
        $outputs = $r['outputs'];
        if (!is_array($outputs) || !array_is_list($outputs)) {
            return '/outputs must be an array';
        }
        if (count($outputs) > self::MAX_OUTPUTS) {
            return '/outputs must not have more than ' . self::MAX_OUTPUTS . ' items';
        }
        $previous = null;
        foreach ($outputs as $i => $o) {
            if (!$o instanceof \stdClass) {
                return "/outputs/{$i} must be an object";
            }
            $out = get_object_vars($o);
            if (($bad = self::members($out, ['path', 'hash', 'bytes'], "/outputs/{$i}")) !== null) {
                return $bad;
            }
            if (!self::matches($out['path'], self::OUTPUT_PATH) || strlen($out['path']) > 255) {
                return "/outputs/{$i}/path must be /out/<name>[/<name>…] of at most 255 characters";
            }
            if (!self::matches($out['hash'], self::HASH)) {
                return "/outputs/{$i}/hash must be sha256:<64 lowercase hex>";
            }
            if (!self::isCount($out['bytes'])) {
                return "/outputs/{$i}/bytes must be a non-negative integer";
            }
            // ASCII paths: byte order is the code-unit order the TS verifier uses.
            if ($previous !== null && strcmp($out['path'], $previous) <= 0) {
                return $out['path'] === $previous ? "/outputs/{$i} repeats the path {$previous}" : "/outputs/{$i} comes before /outputs/" . ($i - 1) . ': outputs must be sorted by path';
            }
            $previous = $out['path'];
        }
        return null;
    }

    /**
     * @param array<string, mixed> $members
     * @param list<string> $allowed every one required
     * @param list<string> $optional allowed, not required
     */
    private static function members(array $members, array $allowed, string $at, array $optional = []): ?string
    {
        foreach (array_keys($members) as $key) {
            if (!in_array((string) $key, $allowed, true) && !in_array((string) $key, $optional, true)) {
                return sprintf('%s has an unknown member %s', $at === '' ? 'the receipt' : $at, json_encode(substr((string) $key, 0, 60)));
            }
        }
        foreach ($allowed as $key) {
            if (!array_key_exists($key, $members)) {
                return "{$at}/{$key} is required";
            }
        }
        return null;
    }

    private static function matches(mixed $v, string $pattern): bool
    {
        return is_string($v) && preg_match($pattern, $v) === 1;
    }

    private static function isCount(mixed $v): bool
    {
        return is_int($v) && $v >= 0 && $v <= self::MAX_COUNT;
    }
}

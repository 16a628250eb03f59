<?php
declare(strict_types=1);

namespace Phase\Internal;

use Phase\Exception\VerificationException;

/**
 * The `outputs` check, as the TS core's services/core/src/crypto/output-files.ts: the files a
 * client received (or finds in a folder mirroring /out) are exactly the ones the verified
 * receipt lists — each one's size and sha256, none missing, none extra.
 *
 * @internal
 */
final class OutputFiles
{
    /** Most entries walked under a folder: a receipt lists at most 256 files; this bounds a wrong folder. */
    public const MAX_DIR_ENTRIES = 65536;

    /**
     * @param list<\stdClass> $listed the receipt's `outputs` (empty when absent)
     * @param array<string, array{bytes: int, hash: ?string}> $found by guest path; `hash` may be null when the size differs
     * @throws VerificationException at "outputs"
     */
    public static function check(array $listed, array $found): string
    {
        $total = 0;
        $names = [];
        foreach ($listed as $o) {
            $names[$o->path] = true;
            if (!array_key_exists($o->path, $found)) {
                throw new VerificationException('outputs', sprintf('the receipt lists %s (%d bytes), which was not received', self::quote($o->path), $o->bytes));
            }
            $file = $found[$o->path];
            if ($file['bytes'] !== $o->bytes) {
                throw new VerificationException('outputs', sprintf('received %d bytes of %s, the receipt says %d', $file['bytes'], self::quote($o->path), $o->bytes));
            }
            if ($file['hash'] !== $o->hash) {
                throw new VerificationException('outputs', sprintf("the bytes received for %s do not match the receipt's hash", self::quote($o->path)));
            }
            $total += $o->bytes;
        }
        $extra = array_diff(array_map('strval', array_keys($found)), array_keys($names));
        if ($extra !== []) {
            sort($extra, SORT_STRING);
            throw new VerificationException('outputs', sprintf("the file %s was received but is not in the receipt's outputs", self::quote($extra[0])));
        }
        $n = count($listed);
        return sprintf('outputs (%d file%s, %d bytes)', $n, $n === 1 ? '' : 's', $total);
    }

    /**
     * Evidence of files held in memory.
     *
     * @param array<string, string> $files bytes by guest path
     * @return array<string, array{bytes: int, hash: ?string}>
     */
    public static function ofBytes(array $files): array
    {
        $out = [];
        foreach ($files as $path => $bytes) {
            $out[(string) $path] = ['bytes' => strlen($bytes), 'hash' => 'sha256:' . hash('sha256', $bytes)];
        }
        return $out;
    }

    /**
     * Evidence of the regular files under `$dir` (`$dir/a/b.txt` is `/out/a/b.txt`), hashed from
     * disk only when the receipt lists that path at that size. Symbolic links and other
     * non-files are refused, never followed.
     *
     * @param list<\stdClass> $listed
     * @return array<string, array{bytes: int, hash: ?string}>
     * @throws VerificationException at "outputs"
     */
    public static function ofDirectory(string $dir, array $listed): array
    {
        if (!is_dir($dir) || is_link($dir)) {
            throw new VerificationException('outputs', sprintf('%s is not a directory', $dir));
        }
        $sizes = [];
        foreach ($listed as $o) {
            $sizes[$o->path] = $o->bytes;
        }
        $out = [];
        $entries = 0;
        $visit = static function (string $folder, string $rel) use (&$visit, &$out, &$entries, $sizes, $dir): void {
            $names = @scandir($folder);
            if ($names === false) {
                throw new VerificationException('outputs', sprintf('cannot read the folder %s', $folder));
            }
            foreach ($names as $name) {
                if ($name === '.' || $name === '..') {
                    continue;
                }
                if (++$entries > self::MAX_DIR_ENTRIES) {
                    throw new VerificationException('outputs', sprintf('%s holds more than %d entries; a receipt lists at most 256 files', $dir, self::MAX_DIR_ENTRIES));
                }
                $file = $folder . DIRECTORY_SEPARATOR . $name;
                $guest = "{$rel}/{$name}";
                if (is_link($file)) {
                    throw new VerificationException('outputs', sprintf('%s is a symbolic link; a job\'s outputs are plain files', $file));
                } elseif (is_dir($file)) {
                    $visit($file, $guest);
                } elseif (is_file($file)) {
                    $size = filesize($file);
                    $hash = null;
                    if (($sizes[$guest] ?? null) === $size) {
                        $digest = hash_file('sha256', $file);
                        if ($digest === false) {
                            throw new VerificationException('outputs', sprintf('cannot read %s', $file));
                        }
                        $hash = 'sha256:' . $digest;
                    }
                    $out[$guest] = ['bytes' => (int) $size, 'hash' => $hash];
                } else {
                    throw new VerificationException('outputs', sprintf('%s is not a regular file; a job\'s outputs are plain files', $file));
                }
            }
        };
        $visit(rtrim($dir, DIRECTORY_SEPARATOR), '/out');
        return $out;
    }

    private static function quote(string $path): string
    {
        return (string) json_encode(substr($path, 0, 255), JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE);
    }
}

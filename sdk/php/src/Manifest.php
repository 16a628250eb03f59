<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\ManifestException;
use Phase\Internal\Jcs;

/**
 * A job manifest v1 (schemas/manifest.schema.json), built fluently and checked as it is built.
 * Its canonical JSON (RFC 8785) is what the node receives, so the job id computed here —
 * sha256 of those bytes — is the one the receipt names. A fresh random nonce is drawn when
 * the manifest is made; a node refuses the same job id twice (replayed_job).
 *
 *   $m = Manifest::forModule($wasm)->args('Hello, World')->timeoutMs(5000);
 */
final class Manifest
{
    private string $nonce;
    /** @var list<string>|null */
    private ?array $args = null;
    /** @var array<string, string> */
    private array $env = [];
    private ?string $stdin = null;
    /** @var array<string, int> */
    private array $limits = [];
    /** @var array<string, string|int> */
    private array $requirements = [];
    /** @var array<string, string> input files: guest path => "sha256:<hex>", in the order given */
    private array $inputs = [];
    private ?string $profile = null;

    public function __construct(private readonly string $moduleHash, ?string $nonce = null)
    {
        if (preg_match('/^sha256:[0-9a-f]{64}$/D', $moduleHash) !== 1) {
            throw new ManifestException('module hash must be sha256:<64 lowercase hex>');
        }
        $this->nonce(bin2hex(random_bytes(16)));
        if ($nonce !== null) {
            $this->nonce($nonce);
        }
    }

    /** A manifest for these module bytes (their sha256 becomes the module hash). */
    public static function forModule(string $wasm): self
    {
        return new self('sha256:' . hash('sha256', $wasm));
    }

    /** Replaces the nonce (32–64 lowercase hex). Only for tests and deliberate retries. */
    public function nonce(string $nonce): self
    {
        if (preg_match('/^[0-9a-f]{32,64}$/D', $nonce) !== 1) {
            throw new ManifestException('nonce must be 32 to 64 lowercase hex digits');
        }
        $this->nonce = $nonce;
        return $this;
    }

    /** Arguments after argv[0] (replaces any set before). */
    public function args(string ...$args): self
    {
        if (count($args) > 1024) {
            throw new ManifestException('at most 1024 args');
        }
        foreach ($args as $a) {
            self::checkString($a, 'an arg');
        }
        $this->args = array_values($args);
        return $this;
    }

    /** Sets one environment variable. */
    public function env(string $name, string $value): self
    {
        if (preg_match('/^[A-Za-z_][A-Za-z0-9_]{0,127}$/D', $name) !== 1) {
            throw new ManifestException('env names are [A-Za-z_][A-Za-z0-9_]*, at most 128 characters');
        }
        self::checkString($value, "env {$name}");
        if (!array_key_exists($name, $this->env) && count($this->env) >= 256) {
            throw new ManifestException('at most 256 env variables');
        }
        $this->env[$name] = $value;
        return $this;
    }

    /** Standard input bytes (sent as canonical base64). */
    public function stdin(string $bytes): self
    {
        $b64 = base64_encode($bytes);
        if (strlen($b64) > 16777216) {
            throw new ManifestException('stdin is larger than a manifest carries (16 MiB of base64)');
        }
        $this->stdin = $b64;
        return $this;
    }

    /**
     * Names an input file by hash: the guest reads it at `$path` (under /in, e.g. "/in/data.csv";
     * segments of letters, digits, ".", "_", "-", no "." or ".." segment, at most 255 characters).
     */
    public function input(string $path, string $hash): self
    {
        if (strlen($path) > 255 || preg_match('#^/in(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)+$#D', $path) !== 1) {
            throw new ManifestException("input path must be an absolute path under /in (segments [A-Za-z0-9._-]+, no . or ..), got '" . substr($path, 0, 80) . "'");
        }
        if (preg_match('/^sha256:[0-9a-f]{64}$/D', $hash) !== 1) {
            throw new ManifestException('input hash must be sha256:<64 lowercase hex>');
        }
        if (!array_key_exists($path, $this->inputs) && count($this->inputs) >= 256) {
            throw new ManifestException('at most 256 input files');
        }
        foreach (array_keys($this->inputs) as $other) {
            if (str_starts_with($other, $path . '/') || str_starts_with($path, $other . '/')) {
                throw new ManifestException("input {$path} and {$other}: a file cannot be another's folder");
            }
        }
        $this->inputs[$path] = $hash;
        return $this;
    }

    /** @return array<string, string> the input files named: guest path => hash */
    public function inputs(): array
    {
        return $this->inputs;
    }

    /** Requested memory cap in MiB (1–65536); the node's caps win. */
    public function memoryMb(int $mb): self
    {
        return $this->limit('memory_mb', $mb, 1, 65536);
    }

    /** Requested wall-time limit in ms (1–86400000). */
    public function timeoutMs(int $ms): self
    {
        return $this->limit('timeout_ms', $ms, 1, 86400000);
    }

    /** Requested output cap in bytes. */
    public function outputBytes(int $bytes): self
    {
        return $this->limit('output_bytes', $bytes, 0, 4294967296);
    }

    /** Instruction budget (limits.fuel, 1 to 2^53 − 1): the job ends fuel_exhausted past it; the node's cap wins. */
    public function fuel(int $units): self
    {
        return $this->limit('fuel', $units, 1, 9007199254740991);
    }

    /**
     * The deterministic profile: a virtual clock derived from fuel, random seeded from the job id,
     * always metered (the node's default fuel unless fuel() sets one); the receipt states it.
     */
    public function deterministic(): self
    {
        $this->profile = 'deterministic';
        return $this;
    }

    /** Peer selection: runtime name, architecture, minimum memory (MiB) and cores. */
    public function requires(?string $runtime = null, ?string $arch = null, ?int $minMemoryMb = null, ?int $minCores = null): self
    {
        foreach (['runtime' => [$runtime, 64], 'arch' => [$arch, 32]] as $key => [$value, $max]) {
            if ($value !== null) {
                self::checkString($value, $key, $max);
                $this->requirements[$key] = $value;
            }
        }
        foreach (['min_memory_mb' => [$minMemoryMb, 16777216], 'min_cores' => [$minCores, 4096]] as $key => [$value, $max]) {
            if ($value !== null) {
                if ($value < 0 || $value > $max) {
                    throw new ManifestException("{$key} must be from 0 to {$max}");
                }
                $this->requirements[$key] = $value;
            }
        }
        return $this;
    }

    public function moduleHash(): string
    {
        return $this->moduleHash;
    }

    public function getNonce(): string
    {
        return $this->nonce;
    }

    /** The manifest as the node receives it (optional parts only when set). @return array<string, mixed> */
    public function toArray(): array
    {
        return array_filter([
            'version' => 1,
            'module_hash' => $this->moduleHash,
            'nonce' => $this->nonce,
            'args' => $this->args,
            'env' => $this->env === [] ? null : $this->env,
            'stdin' => $this->stdin,
            'limits' => $this->limits === [] ? null : $this->limits,
            'inputs' => $this->inputs === [] ? null : self::inputList($this->inputs, false),
            'profile' => $this->profile,
            'requirements' => $this->requirements === [] ? null : $this->requirements,
        ], static fn ($v) => $v !== null);
    }

    /** RFC 8785 canonical JSON: the exact bytes sent and hashed. */
    public function toJson(): string
    {
        return Jcs::encode($this->toArray());
    }

    /** "sha256:" + sha256 of the canonical JSON. */
    public function jobId(): string
    {
        return 'sha256:' . hash('sha256', $this->toJson());
    }

    /**
     * sha256 of JCS({args, env, stdin}) with defaults [], {}, "", plus the input files sorted by
     * path as a fourth member when there are any — what the receipt's inputs_hash covers.
     */
    public function inputsHash(): string
    {
        $inputs = ['args' => $this->args ?? [], 'env' => $this->env === [] ? new \stdClass() : $this->env, 'stdin' => $this->stdin ?? ''];
        if ($this->inputs !== []) {
            $inputs['inputs'] = self::inputList($this->inputs, true);
        }
        return 'sha256:' . hash('sha256', Jcs::encode($inputs));
    }

    /**
     * @param array<string, string> $inputs
     * @return list<array{path: string, hash: string}> sorted by path when asked (paths are ASCII: byte order is UTF-16 order)
     */
    private static function inputList(array $inputs, bool $sorted): array
    {
        if ($sorted) {
            ksort($inputs, SORT_STRING);
        }
        $list = [];
        foreach ($inputs as $path => $hash) {
            $list[] = ['path' => (string) $path, 'hash' => $hash];
        }
        return $list;
    }

    private function limit(string $key, int $value, int $min, int $max): self
    {
        if ($value < $min || $value > $max) {
            throw new ManifestException("limits.{$key} must be from {$min} to {$max}");
        }
        $this->limits[$key] = $value;
        return $this;
    }

    private static function checkString(string $value, string $what, int $max = 16384): void
    {
        if (preg_match('//u', $value) !== 1) {
            throw new ManifestException("{$what} is not valid UTF-8");
        }
        if (Jcs::utf16Length($value) > $max) {
            throw new ManifestException("{$what} is longer than {$max} characters");
        }
    }
}

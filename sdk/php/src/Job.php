<?php
declare(strict_types=1);

namespace Phase;

use Phase\Exception\ManifestException;

/**
 * A job to submit: a manifest, the module bytes (or only their hash, when the node caches the
 * module), and where to run it — this node, a remote peer found on the network, a given peer,
 * or k replicas. Built fluently:
 *
 *   $job = Job::fromFile('hello.wasm')->args('Hello, World')->remote();
 */
final class Job
{
    private ?string $target = null;
    private ?string $peerId = null;
    private ?int $replicas = null;
    /** @var array<string, string> input file bytes by hash */
    private array $files = [];

    private function __construct(private readonly Manifest $manifest, private readonly ?string $module)
    {
    }

    /** A job for the WebAssembly module in this file. */
    public static function fromFile(string $path): self
    {
        $bytes = @file_get_contents($path);
        if ($bytes === false) {
            throw new ManifestException("cannot read module file {$path}");
        }
        return self::fromBytes($bytes);
    }

    /** A job for these module bytes. */
    public static function fromBytes(string $wasm): self
    {
        return new self(Manifest::forModule($wasm), $wasm);
    }

    /** A job for a module the node already caches, named by hash (no bytes are sent). */
    public static function fromHash(string $moduleHash): self
    {
        return new self(new Manifest($moduleHash), null);
    }

    /** A job for a prepared manifest; pass the module bytes unless the node caches them. */
    public static function fromManifest(Manifest $manifest, ?string $module = null): self
    {
        if ($module !== null && 'sha256:' . hash('sha256', $module) !== $manifest->moduleHash()) {
            throw new ManifestException("the module bytes do not hash to the manifest's module_hash");
        }
        return new self($manifest, $module);
    }

    public function args(string ...$args): self { $this->manifest->args(...$args); return $this; }
    public function env(string $name, string $value): self { $this->manifest->env($name, $value); return $this; }
    public function stdin(string $bytes): self { $this->manifest->stdin($bytes); return $this; }
    /**
     * An input file: the guest reads `$bytes` at `$path` (under /in). The manifest names it by
     * hash; the client sends the bytes only when the node lacks them.
     */
    public function input(string $path, string $bytes): self
    {
        $hash = 'sha256:' . hash('sha256', $bytes);
        $this->manifest->input($path, $hash);
        $this->files[$hash] = $bytes;
        return $this;
    }

    /** A local file as an input, seen by the guest at `$guestPath` (default: /in/<its file name>). */
    public function inputFile(string $localPath, ?string $guestPath = null): self
    {
        $bytes = @file_get_contents($localPath);
        if ($bytes === false) {
            throw new ManifestException("cannot read input file {$localPath}");
        }
        return $this->input($guestPath ?? '/in/' . basename($localPath), $bytes);
    }

    /** @return array<string, string> the input files' bytes by hash */
    public function inputFiles(): array { return $this->files; }

    public function memoryMb(int $mb): self { $this->manifest->memoryMb($mb); return $this; }
    public function timeoutMs(int $ms): self { $this->manifest->timeoutMs($ms); return $this; }
    public function outputBytes(int $bytes): self { $this->manifest->outputBytes($bytes); return $this; }
    public function nonce(string $nonce): self { $this->manifest->nonce($nonce); return $this; }
    public function requires(?string $runtime = null, ?string $arch = null, ?int $minMemoryMb = null, ?int $minCores = null): self
    {
        $this->manifest->requires($runtime, $arch, $minMemoryMb, $minCores);
        return $this;
    }

    /** Run on the node the client talks to. */
    public function local(): self { return $this->where('local', null); }
    /** Run on another node, found on the network. */
    public function remote(): self { return $this->where('remote', null); }
    /** Local, falling back to a remote node when this one is busy or unavailable. */
    public function auto(): self { return $this->where('auto', null); }
    /** Run on this peer (a PeerId, "12D3KooW…"). */
    public function onPeer(string $peerId): self { return $this->where(null, $peerId); }

    /** Run on `k` distinct nodes and report agreement of their outputs. */
    public function replicas(int $k): self
    {
        if ($k < 1) {
            throw new ManifestException('replicas must be at least 1');
        }
        $this->replicas = $k;
        return $this;
    }

    public function manifest(): Manifest { return $this->manifest; }
    public function module(): ?string { return $this->module; }
    public function target(): ?string { return $this->target; }
    public function peerId(): ?string { return $this->peerId; }
    public function replicaCount(): ?int { return $this->replicas; }

    /**
     * The POST /v1/jobs body, with the bytes of the input files named in `$inlineInputs` (hashes)
     * as base64. The manifest goes in as its canonical text, the same bytes the
     * job id hashes (PHP's json_encode would turn an empty env into [], for one).
     *
     * @param list<string> $inlineInputs
     */
    public function requestBody(bool $withModule, array $inlineInputs = []): string
    {
        $blobs = [];
        foreach ($inlineInputs as $hash) {
            if (isset($this->files[$hash])) {
                $blobs[] = ['hash' => $hash, 'data' => base64_encode($this->files[$hash])];
            }
        }
        $extra = array_filter([
            'module' => $withModule && $this->module !== null ? base64_encode($this->module) : null,
            'inputs' => $blobs === [] ? null : $blobs,
            'target' => $this->target,
            'peer_id' => $this->peerId,
            'replicas' => $this->replicas,
        ], static fn ($v) => $v !== null);
        $body = '{"manifest":' . $this->manifest->toJson();
        foreach ($extra as $key => $value) {
            $body .= ',' . json_encode($key) . ':' . json_encode($value, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        }
        return $body . '}';
    }

    private function where(?string $target, ?string $peerId): self
    {
        $this->target = $target;
        $this->peerId = $peerId;
        return $this;
    }
}

<?php
declare(strict_types=1);

namespace Phase\Http;

use Phase\Exception\TransportException;

/**
 * HTTP with ext-curl, over TCP ("http://127.0.0.1:7780") or a unix socket ("unix:/path" or an
 * absolute path). One handle is kept, so requests reuse the connection.
 */
final class CurlTransport implements Transport
{
    private readonly string $base;
    private readonly ?string $socket;
    private ?\CurlHandle $handle = null;

    public function __construct(string $address, private readonly float $connectTimeout = 5.0)
    {
        if (str_starts_with($address, 'unix:') || str_starts_with($address, '/')) {
            $this->socket = str_starts_with($address, 'unix:') ? substr($address, 5) : $address;
            $this->base = 'http://localhost';
        } elseif (preg_match('#^https?://#i', $address) === 1) {
            $this->socket = null;
            $this->base = rtrim($address, '/');
        } else {
            throw new \InvalidArgumentException("node address must be http(s)://host:port, unix:/path or /path/to.sock, got '{$address}'");
        }
    }

    public function send(string $method, string $path, ?string $body, array $headers, float $timeout): Response
    {
        $this->handle ??= curl_init();
        $h = $this->handle;
        curl_reset($h);
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = "{$name}: {$value}";
        }
        $lines[] = 'Expect:'; // no 100-continue round trip for large bodies
        curl_setopt_array($h, [
            CURLOPT_URL => $this->base . $path,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_CONNECTTIMEOUT_MS => (int) ceil($this->connectTimeout * 1000),
            CURLOPT_TIMEOUT_MS => (int) ceil($timeout * 1000),
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ]);
        if ($this->socket !== null) {
            curl_setopt($h, CURLOPT_UNIX_SOCKET_PATH, $this->socket);
        }
        if ($body !== null) {
            curl_setopt($h, CURLOPT_POSTFIELDS, $body);
        }
        $text = curl_exec($h);
        if ($text === false) {
            $where = $this->socket ?? $this->base;
            throw new TransportException(sprintf('cannot reach the node at %s: %s', $where, curl_error($h)), curl_errno($h));
        }
        return new Response((int) curl_getinfo($h, CURLINFO_RESPONSE_CODE), (string) $text);
    }
}

<?php
declare(strict_types=1);

namespace Phase\Http;

use Phase\Exception\TransportException;

/** One HTTP exchange with the node. `CurlTransport` is the real one; tests pass a fake. */
interface Transport
{
    /**
     * @param array<string, string> $headers
     * @throws TransportException when no HTTP answer arrived (with curl's errno when it was curl's)
     */
    public function send(string $method, string $path, ?string $body, array $headers, float $timeout): Response;
}

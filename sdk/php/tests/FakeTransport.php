<?php
declare(strict_types=1);

namespace Phase\Tests;

use Phase\Http\Response;
use Phase\Http\Transport;

/** Answers from a script (a Response, or a Throwable to throw) and records every request. */
final class FakeTransport implements Transport
{
    /** @var list<array{method: string, path: string, body: ?string, headers: array<string, string>}> */
    public array $requests = [];

    /** @param list<Response|\Throwable> $script */
    public function __construct(private array $script)
    {
    }

    public function send(string $method, string $path, ?string $body, array $headers, float $timeout): Response
    {
        $this->requests[] = ['method' => $method, 'path' => $path, 'body' => $body, 'headers' => $headers];
        $next = array_shift($this->script) ?? throw new \LogicException('no answer scripted');
        if ($next instanceof \Throwable) {
            throw $next;
        }
        return $next;
    }
}

<?php
declare(strict_types=1);

namespace Phase\Http;

/** An HTTP answer: status and body. */
final class Response
{
    public function __construct(public readonly int $status, public readonly string $body)
    {
    }
}

<?php
declare(strict_types=1);

namespace Phase\Exception;

/** Base of every exception the SDK throws: catch this to catch them all. */
abstract class PhaseException extends \RuntimeException
{
}

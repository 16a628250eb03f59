<?php
declare(strict_types=1);

namespace Phase\Exception;

/** A builder was given something the manifest format cannot carry (caught before any request). */
final class ManifestException extends PhaseException
{
}

<?php
declare(strict_types=1);

require __DIR__ . '/../autoload.php';

spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'Phase\\Tests\\')) {
        require __DIR__ . '/' . str_replace('\\', '/', substr($class, 12)) . '.php';
    }
});

/** The shared receipt vectors (test/vectors/receipts.v1.json at the repository root). */
const PHASE_VECTORS = __DIR__ . '/../../../test/vectors/receipts.v1.json';

<?php
/**
 * PSR-4 autoloader for using the SDK straight from this repository, without Composer
 * (the examples do this). With Composer, `vendor/autoload.php` does the same job.
 */
declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Phase\\', 6) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 6)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

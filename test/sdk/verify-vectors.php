<?php
declare(strict_types=1);

/**
 * Runs every case of a receipt vectors file (test/vectors/receipts.v1.json, or a file of the
 * same shape) through the PHP SDK's Receipt::verify on its exact text, and prints one JSON
 * array of verdicts: [{"name", "verified", "check"}]. Used by test/sdk/verifiers-agree.test.ts
 * to compare the PHP verdicts with the TypeScript verifiers' and the CLI's.
 *
 *   php test/sdk/verify-vectors.php FILE
 */

require __DIR__ . '/../../sdk/php/autoload.php';

use Phase\Exception\VerificationException;
use Phase\Expect;
use Phase\Receipt;

$file = json_decode((string) file_get_contents($argv[1] ?? ''), true, 512, JSON_THROW_ON_ERROR);
$b64 = static fn (?string $s): ?string => $s === null ? null : base64_decode($s, true);
$out = [];
foreach ($file['cases'] as $case) {
    $e = $case['expect'];
    $expect = new Expect(
        publicKey: $e['public_key'],
        peerId: $e['peer_id'] ?? null,
        jobId: $e['job']['job_id'] ?? null,
        nonce: $e['job']['nonce'] ?? null,
        moduleHash: $e['job']['module_hash'] ?? null,
        inputsHash: $e['job']['inputs_hash'] ?? null,
        stdout: $b64($e['outputs']['stdout_base64'] ?? null),
        stderr: $b64($e['outputs']['stderr_base64'] ?? null),
        files: isset($e['outputs']['files_base64']) ? array_map(static fn (string $f): string => (string) base64_decode($f, true), $e['outputs']['files_base64']) : null,
    );
    try {
        Receipt::fromJson($case['receipt_json'])->verify($expect);
        $out[] = ['name' => $case['name'], 'verified' => true, 'check' => null];
    } catch (VerificationException $err) {
        $out[] = ['name' => $case['name'], 'verified' => false, 'check' => $err->check];
    }
}
echo json_encode($out, JSON_THROW_ON_ERROR), "\n";

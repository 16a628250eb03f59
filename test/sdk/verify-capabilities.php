<?php
declare(strict_types=1);

/**
 * Runs capability-record cases through the PHP SDK's CapabilityRecord::verify on their exact
 * text and prints one JSON array of verdicts: [{"name", "verified", "check"}]. The file holds
 * {"now": ms, "cases": [{"name", "record_json", "peer_id"}]}. Used by
 * test/sdk/verifiers-agree.test.ts.
 *
 *   php test/sdk/verify-capabilities.php FILE
 */

require __DIR__ . '/../../sdk/php/autoload.php';

use Phase\CapabilityRecord;
use Phase\Exception\VerificationException;

$file = json_decode((string) file_get_contents($argv[1] ?? ''), true, 512, JSON_THROW_ON_ERROR);
$out = [];
foreach ($file['cases'] as $case) {
    try {
        CapabilityRecord::verify($case['record_json'], $case['peer_id'], $file['now']);
        $out[] = ['name' => $case['name'], 'verified' => true, 'check' => null];
    } catch (VerificationException $err) {
        $out[] = ['name' => $case['name'], 'verified' => false, 'check' => $err->check];
    }
}
echo json_encode($out, JSON_THROW_ON_ERROR), "\n";

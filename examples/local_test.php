<?php
/**
 * Runs examples/hello/hello.wasm on your own Phase node with the PHP SDK and verifies the
 * signed receipt against that node's receipt key.
 *
 *   npm start                                    # a node, in another terminal
 *   php examples/local_test.php                  # prints dlroW ,olleH and "Receipt verified ✓"
 *   php examples/local_test.php "some text"
 *
 * PHASE_HTTP: the node's HTTP API, http://127.0.0.1:7780 (default) or its unix socket path
 * (<runtime_dir>/plasmd-http.sock). PHASE_TOKEN: API token, if the node requires one.
 * PHASE_KEY: pin this receipt key instead of asking the node for its own.
 */
declare(strict_types=1);

// In a Composer project that requires phase/sdk (examples/ beside vendor/): Composer's autoloader;
// in this repository: the SDK's own.
require is_file(__DIR__ . '/../vendor/autoload.php') ? __DIR__ . '/../vendor/autoload.php' : __DIR__ . '/../sdk/php/autoload.php';

use Phase\Client;
use Phase\Exception\PhaseException;
use Phase\Exception\VerificationException;
use Phase\Job;

$client = Client::fromEnv();
$text = $argv[1] ?? 'Hello, World';

try {
    // Your own node: its receipt key is the one to expect (pin PHASE_KEY to not even trust that answer).
    $node = $client->node();
    $key = getenv('PHASE_KEY') ?: $node->receiptPublicKey;
    $result = $client->run(Job::fromFile(__DIR__ . '/hello/hello.wasm')->args($text)->local());
} catch (PhaseException $e) {
    fwrite(STDERR, "local_test: {$e->getMessage()}\n(is a node running? start one with `npm start`; set PHASE_HTTP to its address)\n");
    exit(69);
}

printf("node       %s at %s\n", $node->peerId, $client->address());
printf("job        %s\n", $result->jobId);
printf("output     %s\n", rtrim($result->stdout, "\n"));
if ($result->stderr !== '') {
    printf("stderr     %s\n", rtrim($result->stderr, "\n"));
}
printf("exit code  %d (%s)\n", $result->exitCode, $result->status);
printf("wall time  %s ms\n", $result->wallTimeMs() ?? '?');

try {
    $checks = $result->verify($key);
    echo "Receipt verified ✓\n";
    foreach ($checks as $check) {
        echo "  - {$check}\n";
    }
} catch (VerificationException $e) {
    echo "Receipt NOT verified ✗ — the {$e->check} check failed: {$e->reason}\n";
    exit(1);
}

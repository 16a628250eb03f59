<?php
/**
 * Runs examples/hello/hello.wasm on ANOTHER node of the Phase network, through your own node,
 * and verifies the receipt against the key that the remote peer bound to its PeerId in its
 * signed capability record (an Ed25519 PeerId embeds the key that signed the record).
 *
 *   php examples/remote_test.php                        # any remote peer
 *   php examples/remote_test.php "Hello" 12D3KooW...     # that peer
 *
 * Start a small network first (README, "On the network"). PHASE_HTTP: your node's HTTP API,
 * http://127.0.0.1:7780 (default) or its unix socket path. PHASE_TOKEN: API token, if needed.
 * PHASE_PEER: the peer to run on (same as the second argument).
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
$peer = $argv[2] ?? (getenv('PHASE_PEER') ?: null);

try {
    $node = $client->node();
    $job = Job::fromFile(__DIR__ . '/hello/hello.wasm')->args($text);
    $result = $client->run($peer === null ? $job->remote() : $job->onPeer($peer));
} catch (PhaseException $e) {
    fwrite(STDERR, "remote_test: {$e->getMessage()}\n(is your node running and on a network with other nodes? set PHASE_HTTP to its address)\n");
    exit(69);
}

printf("via node   %s at %s\n", $node->peerId, $client->address());
printf("ran on     %s%s\n", $result->peerId, $result->peerId === $node->peerId ? ' (this node!)' : ' (remote)');
printf("job        %s\n", $result->jobId);
printf("output     %s\n", rtrim($result->stdout, "\n"));
if ($result->stderr !== '') {
    printf("stderr     %s\n", rtrim($result->stderr, "\n"));
}
printf("exit code  %d (%s)\n", $result->exitCode, $result->status);
printf("wall time  %s ms\n", $result->wallTimeMs() ?? '?');
foreach ($client->peers() as $p) {
    if ($p->peerId === $result->peerId) {
        // What your node verified of that peer so far (decayed by age).
        printf("its score  %.2f (%d jobs verified, %d failed)\n", $p->score(), $p->successes, $p->failures);
    }
}

try {
    // No key given: the receipt key must be the one the runner's PeerId signed for.
    $checks = $result->verify();
    echo "Receipt verified ✓\n";
    foreach ($checks as $check) {
        echo "  - {$check}\n";
    }
} catch (VerificationException $e) {
    echo "Receipt NOT verified ✗ — the {$e->check} check failed: {$e->reason}\n";
    exit(1);
}

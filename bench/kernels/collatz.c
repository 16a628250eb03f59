/* Compute kernel for `npm run bench`: total Collatz steps of 1..6,000,000, all in one hot loop
 * inside main — the case where V8, lacking on-stack replacement for wasm, would leave the code
 * on its baseline tier unless the executor compiles with the optimizing tier up front. */
#include <stdint.h>
#include <stdio.h>

int main(void) {
  uint64_t total = 0;
  for (uint64_t n = 1; n <= 6000000; n++) {
    uint64_t x = n;
    while (x != 1) {
      x = (x & 1) ? 3 * x + 1 : x >> 1;
      total++;
    }
  }
  printf("%llu\n", (unsigned long long)total);
  return 0;
}

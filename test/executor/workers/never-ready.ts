// A pool worker that loads but never says ready (stuck in its boot): kept alive, silent.
setInterval(() => {}, 60_000)

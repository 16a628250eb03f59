// A pool worker that cannot load (a broken install): it throws before it says ready.
throw new Error('broken worker script')

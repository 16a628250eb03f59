// A pool worker that exits before it says ready.
process.exit(3)

"""Pure rules over plain data: no database, no Redis, no Flask, no clock read, no I/O."""

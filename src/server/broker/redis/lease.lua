-- Takes or keeps a lease: KEYS[1] the lease, ARGV[1] the instance asking, ARGV[2] for how
-- long (ms). Returns 1 when the asking instance holds it now, 0 when another one does.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0

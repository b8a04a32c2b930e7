-- Gives a dashboard a new epoch if it still has the one a node found to have gone back (Redis
-- restarted from an older save, or a replica that missed writes took over): seqs already
-- handed out under it must never be handed out again. KEYS[1] meta; ARGV[1] the old epoch,
-- ARGV[2] the new one. Returns the epoch now held.
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'epoch')

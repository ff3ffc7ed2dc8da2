#!lua name=portfolio_stream_fleet
-- Redis Functions library of ngx_http_portfolio_stream_module (SPEC section 9):
-- the fleet-wide per-user connection limit (portfolio_stream_limit_scope fleet).
-- Redis >= 7.0.
--
-- An "edge" is one nginx worker; it names itself (edge id) and numbers its
-- connections (conn id); both are 1-64 bytes of [A-Za-z0-9._:-]. Users are
-- spread over buckets; all keys of a bucket share one hash tag {T}, so every
-- call below touches one cluster slot:
--   {T}:edges       zset   edge id -> lease expiry (ms, Redis's clock)
--   {T}:u:<user>    hash   "<edge>/<conn>" -> "1": the user's connections
--   {T}:e:<edge>    set    "<conn>/<user key>": that edge's connections in the bucket
-- A connection counts while its edge's lease in its bucket runs. Edges renew
-- one lease per bucket they hold connections in, not one per connection, so
-- idle connections cost Redis nothing; an edge that stops renewing (crash,
-- network loss) loses its connections when the lease ends, and the next
-- renew or acquire in the bucket removes them.
--
--   FCALL portfolio_stream_fleet_acquire 2 <user key> <edges key> <edge> <conn> <limit> <lease_ms>
--     -> 1 acquired (or already held), 0 the user has <limit> live connections
--   FCALL portfolio_stream_fleet_release 2 <user key> <edges key> <edge> <conn>
--     -> 1 released, 0 not held (unknown id, or already freed by lease expiry)
--   FCALL portfolio_stream_fleet_renew 1 <edges key> <edge> <lease_ms>
--     -> how many of the edge's connections the bucket holds; fewer than the
--        edge has means its lease ran out and they were removed (or more: stale
--        ones were kept): send sync
--   FCALL portfolio_stream_fleet_sync <1+n> <edges key> <user key>... <edge> <lease_ms> replace|add <conn>...
--     -> renews the lease and makes Redis hold these connections of the edge
--        in the bucket, the i-th conn being the i-th user key's (no limit
--        check): "replace" removes the edge's other entries there first, "add"
--        only adds (the further chunks of a long list); the count as renew
--   FCALL portfolio_stream_fleet_drop 1 <edges key> <edge>
--     -> removes every connection of the edge in the bucket (a clean exit); how many
--   FCALL portfolio_stream_fleet_count 2 <user key> <edges key>
--     -> the user's live connections (read-only)
--   FCALL portfolio_stream_fleet_version 0
--     -> the library version (an integer)
--
-- Load by hand: redis-cli FUNCTION LOAD REPLACE "$(cat redis/portfolio_stream_fleet.lua)"
-- The module embeds this exact text (src/fleet_function.cpp, written by
-- redis/embed.sh; a unit test compares the two): bump VERSION on every change.

local VERSION = 1
local MAX_LEASE_MS = 86400000
local MAX_LIMIT = 1000000
local MAX_SYNC = 1000
-- Most entries of dead edges one call removes (keeps every call short).
local SWEEP_ACQUIRE = 100
local SWEEP_RENEW = 1000

local function err(msg)
  return redis.error_reply('ERR ' .. msg)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ident(s, name)
  if type(s) ~= 'string' or #s < 1 or #s > 64 or not string.match(s, '^[%w%.:_%-]+$') then
    return err(name .. ' must be 1-64 bytes of [A-Za-z0-9._:-]')
  end
  return nil
end

local function positive(arg, max, name)
  if type(arg) ~= 'string' or not string.match(arg, '^[1-9][0-9]*$') or #arg > 15 then
    return nil, err(name .. ' must be a positive integer')
  end
  local n = tonumber(arg)
  if n > max then
    return nil, err(name .. ' must be at most ' .. max)
  end
  return n
end

-- The bucket's hash tag "{T}" (the edges key must start with one), or nil.
local function bucket_tag(edges_key)
  return string.match(edges_key, '^({[^}]+})')
end

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

local function want_type(key, want)
  local t = key_type(key)
  if t ~= want and t ~= 'none' then
    return redis.error_reply('WRONGTYPE fleet key ' .. key .. ' is a ' .. t .. ', not a ' .. want)
  end
  return nil
end

-- Checks the keys of one bucket: the edges key has a hash tag, every user
-- key starts with it, and each key has its type (or does not exist).
-- Returns tag, or nil and an error reply.
local function check_keys(edges_key, user_keys, edge)
  local tag = bucket_tag(edges_key)
  if not tag then
    return nil, err('the edges key must start with a hash tag {...}')
  end
  for _, u in ipairs(user_keys) do
    if string.sub(u, 1, #tag) ~= tag or u == edges_key then
      return nil, err('user key ' .. u .. ' must start with the hash tag of the edges key ' .. tag)
    end
    local e = want_type(u, 'hash')
    if e then
      return nil, e
    end
  end
  local e = want_type(edges_key, 'zset')
  if e then
    return nil, e
  end
  if edge then
    e = want_type(tag .. ':e:' .. edge, 'set')
    if e then
      return nil, e
    end
  end
  return tag
end

-- Removes entries of edges whose lease ended before now, at most budget of
-- them; an edge leaves the zset once all its entries are gone.
local function sweep(tag, edges_key, now, budget)
  local removed = 0
  local dead = redis.call('ZRANGEBYSCORE', edges_key, '-inf', '(' .. now, 'LIMIT', 0, 16)
  for _, edge in ipairs(dead) do
    local index = tag .. ':e:' .. edge
    local t = key_type(index)
    if t == 'set' then
      local members = redis.call('SPOP', index, budget - removed)
      for _, m in ipairs(members) do
        local slash = string.find(m, '/', 1, true)
        if slash then
          local ukey = string.sub(m, slash + 1)
          if string.sub(ukey, 1, #tag) == tag then
            redis.pcall('HDEL', ukey, edge .. '/' .. string.sub(m, 1, slash - 1))
          end
        end
        removed = removed + 1
      end
      t = key_type(index)
    end
    if t ~= 'set' then
      redis.call('ZREM', edges_key, edge)
    end
    if removed >= budget then
      break
    end
  end
  return removed
end

-- A field "<edge>/<conn>" of a user hash: edge, conn.
local function split_field(f)
  local slash = string.find(f, '/', 1, true)
  if not slash then
    return f, nil
  end
  return string.sub(f, 1, slash - 1), string.sub(f, slash + 1)
end

local function acquire(keys, args)
  if #keys ~= 2 then
    return err('portfolio_stream_fleet_acquire takes 2 keys: the user key and the edges key')
  end
  if #args ~= 4 then
    return err('usage: FCALL portfolio_stream_fleet_acquire 2 <user key> <edges key> <edge> <conn> <limit> <lease_ms>')
  end
  local ukey, ekey, edge, conn = keys[1], keys[2], args[1], args[2]
  local e = ident(edge, 'edge') or ident(conn, 'conn')
  if e then
    return e
  end
  local limit, e1 = positive(args[3], MAX_LIMIT, 'limit')
  if not limit then
    return e1
  end
  local lease, e2 = positive(args[4], MAX_LEASE_MS, 'lease_ms')
  if not lease then
    return e2
  end
  local tag, e3 = check_keys(ekey, {ukey}, edge)
  if not tag then
    return e3
  end
  local now = now_ms()
  sweep(tag, ekey, now, SWEEP_ACQUIRE)
  -- this edge is alive: it is calling
  redis.call('ZADD', ekey, 'GT', now + lease, edge)
  local field = edge .. '/' .. conn
  if redis.call('HEXISTS', ukey, field) == 1 then
    return 1
  end
  local alive = {[edge] = true}
  local count = 0
  for _, f in ipairs(redis.call('HKEYS', ukey)) do
    local fe, fc = split_field(f)
    local a = alive[fe]
    if a == nil then
      local score = redis.call('ZSCORE', ekey, fe)
      a = score ~= false and tonumber(score) >= now
      alive[fe] = a
    end
    if a then
      count = count + 1
    else
      redis.call('HDEL', ukey, f)
      if fc then
        redis.pcall('SREM', tag .. ':e:' .. fe, fc .. '/' .. ukey)
      end
    end
  end
  if count >= limit then
    return 0
  end
  redis.call('HSET', ukey, field, '1')
  redis.call('SADD', tag .. ':e:' .. edge, conn .. '/' .. ukey)
  return 1
end

local function release(keys, args)
  if #keys ~= 2 then
    return err('portfolio_stream_fleet_release takes 2 keys: the user key and the edges key')
  end
  if #args ~= 2 then
    return err('usage: FCALL portfolio_stream_fleet_release 2 <user key> <edges key> <edge> <conn>')
  end
  local ukey, ekey, edge, conn = keys[1], keys[2], args[1], args[2]
  local e = ident(edge, 'edge') or ident(conn, 'conn')
  if e then
    return e
  end
  local tag, e2 = check_keys(ekey, {ukey}, edge)
  if not tag then
    return e2
  end
  local n = redis.call('HDEL', ukey, edge .. '/' .. conn)
  redis.call('SREM', tag .. ':e:' .. edge, conn .. '/' .. ukey)
  return n
end

local function renew(keys, args)
  if #keys ~= 1 then
    return err('portfolio_stream_fleet_renew takes 1 key: the edges key')
  end
  if #args ~= 2 then
    return err('usage: FCALL portfolio_stream_fleet_renew 1 <edges key> <edge> <lease_ms>')
  end
  local ekey, edge = keys[1], args[1]
  local e = ident(edge, 'edge')
  if e then
    return e
  end
  local lease, e1 = positive(args[2], MAX_LEASE_MS, 'lease_ms')
  if not lease then
    return e1
  end
  local tag, e2 = check_keys(ekey, {}, edge)
  if not tag then
    return e2
  end
  local now = now_ms()
  redis.call('ZADD', ekey, now + lease, edge)
  sweep(tag, ekey, now, SWEEP_RENEW)
  return redis.call('SCARD', tag .. ':e:' .. edge)
end

-- Removes every entry of edge in the bucket; returns how many there were.
local function drop_entries(tag, ekey, edge)
  local index = tag .. ':e:' .. edge
  local members = redis.call('SMEMBERS', index)
  for _, m in ipairs(members) do
    local slash = string.find(m, '/', 1, true)
    if slash then
      local ukey = string.sub(m, slash + 1)
      if string.sub(ukey, 1, #tag) == tag then
        redis.pcall('HDEL', ukey, edge .. '/' .. string.sub(m, 1, slash - 1))
      end
    end
  end
  redis.call('DEL', index)
  return #members
end

local function sync(keys, args)
  local n = #keys - 1
  if n < 0 or n > MAX_SYNC or #args ~= n + 3 or (args[3] ~= 'replace' and args[3] ~= 'add') then
    return err('usage: FCALL portfolio_stream_fleet_sync <1+n> <edges key> <user key>... <edge> <lease_ms> replace|add <conn>... (n = 0..' .. MAX_SYNC .. ')')
  end
  local ekey, edge = keys[1], args[1]
  local e = ident(edge, 'edge')
  if e then
    return e
  end
  local lease, e1 = positive(args[2], MAX_LEASE_MS, 'lease_ms')
  if not lease then
    return e1
  end
  local ukeys = {}
  for i = 1, n do
    ukeys[i] = keys[i + 1]
    e = ident(args[i + 3], 'conn')
    if e then
      return e
    end
  end
  local tag, e2 = check_keys(ekey, ukeys, edge)
  if not tag then
    return e2
  end
  local now = now_ms()
  redis.call('ZADD', ekey, now + lease, edge)
  if args[3] == 'replace' then
    drop_entries(tag, ekey, edge)
  end
  local index = tag .. ':e:' .. edge
  for i = 1, n do
    redis.call('HSET', ukeys[i], edge .. '/' .. args[i + 3], '1')
    redis.call('SADD', index, args[i + 3] .. '/' .. ukeys[i])
  end
  return redis.call('SCARD', index)
end

local function drop(keys, args)
  if #keys ~= 1 then
    return err('portfolio_stream_fleet_drop takes 1 key: the edges key')
  end
  if #args ~= 1 then
    return err('usage: FCALL portfolio_stream_fleet_drop 1 <edges key> <edge>')
  end
  local ekey, edge = keys[1], args[1]
  local e = ident(edge, 'edge')
  if e then
    return e
  end
  local tag, e2 = check_keys(ekey, {}, edge)
  if not tag then
    return e2
  end
  local n = drop_entries(tag, ekey, edge)
  redis.call('ZREM', ekey, edge)
  return n
end

local function count(keys, args)
  if #keys ~= 2 or #args ~= 0 then
    return err('usage: FCALL portfolio_stream_fleet_count 2 <user key> <edges key>')
  end
  local ukey, ekey = keys[1], keys[2]
  local tag, e = check_keys(ekey, {ukey}, nil)
  if not tag then
    return e
  end
  local now = now_ms()
  local alive = {}
  local n = 0
  for _, f in ipairs(redis.call('HKEYS', ukey)) do
    local fe = split_field(f)
    if alive[fe] == nil then
      local score = redis.call('ZSCORE', ekey, fe)
      alive[fe] = score ~= false and tonumber(score) >= now
    end
    if alive[fe] then
      n = n + 1
    end
  end
  return n
end

redis.register_function{function_name = 'portfolio_stream_fleet_acquire', callback = acquire}
redis.register_function{function_name = 'portfolio_stream_fleet_release', callback = release}
redis.register_function{function_name = 'portfolio_stream_fleet_renew', callback = renew}
redis.register_function{function_name = 'portfolio_stream_fleet_sync', callback = sync}
redis.register_function{function_name = 'portfolio_stream_fleet_drop', callback = drop}
redis.register_function{function_name = 'portfolio_stream_fleet_count', callback = count, flags = {'no-writes'}}
redis.register_function{
  function_name = 'portfolio_stream_fleet_version',
  callback = function()
    return VERSION
  end,
  flags = {'no-writes'},
}

#!lua name=portfolio_stream
-- Redis Functions library of ngx_http_portfolio_stream_module (SPEC section 8):
-- per-channel history, offsets and epochs. Redis >= 7.0.
--
--   FCALL portfolio_stream_publish 1 <channel> <json> [maxlen] [ttl_seconds]
--     -> the event's offset (stream id "ms-seq")
--   FCALL portfolio_stream_read 1 <channel> <since> <count> <ttl_seconds>
--     -> [epoch, last_generated_id, max_deleted_entry_id, id1, json1, ...]
--   FCALL portfolio_stream_version 0
--     -> the library version (an integer)
--
-- Load by hand: redis-cli FUNCTION LOAD REPLACE "$(cat redis/portfolio_stream.lua)"
-- The module embeds this exact text (src/history_function.cpp; a unit test
-- compares the two): bump VERSION on every change.
--
-- Keys. A channel's history lives in two keys in the channel's cluster slot:
--   channel without a hash tag (portfolio:user:u1):
--     {portfolio:user:u1}:history   a stream, one entry per event, field d = the json
--     {portfolio:user:u1}:epoch     a string, the identity of that stream
--   channel with a hash tag (portfolio:{u1}:orders), which keeps its tag:
--     ps:portfolio:{u1}:orders:history, ps:portfolio:{u1}:orders:epoch
-- (the "ps:" keeps the two forms apart: channel "{x}" and channel "x" hash
-- alike but must not share a history). Both keys expire ttl_seconds after the
-- last publish. The epoch changes whenever either key is found missing, so a
-- client that holds an offset of a lost history is told (epoch mismatch).
--
-- Resharding. FCALL's one key is the channel name, which never exists as a
-- key, so a source node whose slot is MIGRATING always answers ASK and the
-- call runs on the importing node, perhaps before the channel's history has
-- been migrated. Writing there would start a second history (and MIGRATE
-- would then refuse the old one, "Target key exists"): while this node
-- imports the slot and the history is not here yet, both functions answer
-- TRYAGAIN and write nothing, and the caller retries.
--
-- Trimming uses XDEL rather than XADD MAXLEN: Redis 7.0 moves the stream's
-- max-deleted-entry-id on XDEL but not on MAXLEN/XTRIM trimming, and the reader
-- needs it to know whether an offset is older than what is retained.

local VERSION = 2
local DEFAULT_MAXLEN = 1000
local DEFAULT_TTL = 3600
local MAX_ID = '18446744073709551615'
local XDEL_CHUNK = 1000

-- Cluster mode cannot change while the server runs (cluster-enabled needs a
-- restart, which reloads this library), so it is looked up once.
local cluster_mode = nil
local function in_cluster()
  if cluster_mode == nil then
    local info = redis.call('INFO', 'cluster')
    cluster_mode = string.find(info, 'cluster_enabled:1', 1, true) ~= nil
  end
  return cluster_mode
end

local function err(msg)
  return redis.error_reply('ERR ' .. msg)
end

-- A positive integer argument (decimal digits, no sign, at most 15 digits so
-- that it stays exact as a Lua number); the default when absent.
local function positive(arg, default, name)
  if arg == nil then
    return default
  end
  if type(arg) ~= 'string' or not string.match(arg, '^[1-9][0-9]*$') or #arg > 15 then
    return nil, err(name .. ' must be a positive integer')
  end
  return tonumber(arg)
end

local function non_negative(arg, name)
  if type(arg) ~= 'string' or not string.match(arg, '^[0-9]+$') or #arg > 15 then
    return nil, err(name .. ' must be a non-negative integer')
  end
  return tonumber(arg)
end

-- One part of a stream id: 1-20 decimal digits, at most 2^64-1.
local function u64_digits(s)
  if #s == 0 or #s > 20 then
    return false
  end
  local t = string.gsub(s, '^0+', '')
  if #t < 20 then
    return true
  end
  return t <= MAX_ID
end

local function valid_id(s)
  local ms, seq = string.match(s, '^([0-9]+)%-([0-9]+)$')
  return ms ~= nil and u64_digits(ms) and u64_digits(seq)
end

-- The largest id: nothing can follow it (XRANGE refuses "(" before it).
local function is_max_id(s)
  local ms, seq = string.match(s, '^0*([0-9]+)%-0*([0-9]+)$')
  return ms == MAX_ID and seq == MAX_ID
end

-- The two keys of a channel's history (see the top), or nil and an error.
-- Redis Cluster's hash-tag rule: the first '{' and the first '}' after it,
-- with at least one byte between.
local function history_keys(channel)
  local open = string.find(channel, '{', 1, true)
  if open then
    local close = string.find(channel, '}', open + 1, true)
    if close and close > open + 1 then
      return 'ps:' .. channel .. ':history', 'ps:' .. channel .. ':epoch'
    end
  end
  if in_cluster() and string.find(channel, '}', 1, true) then
    return nil, nil, err('channel has a "}" but no hash tag: its history cannot share its cluster slot')
  end
  return '{' .. channel .. '}:history', '{' .. channel .. '}:epoch'
end

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n, width)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(B36, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  while #s < width do
    s = '0' .. s
  end
  return s
end

-- A fresh epoch: the server's time in microseconds (11 base-36 digits, good
-- until the year 6000) and a counter for two histories made in the same
-- microsecond; never the epoch it replaces.
local epoch_counter = 0
local function new_epoch(old)
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local e
  repeat
    epoch_counter = (epoch_counter + 1) % 2176782336 -- 36^6
    e = base36(us, 11) .. base36(epoch_counter, 1)
  until e ~= old
  return e
end

-- This node imports the key's slot (CLUSTER NODES: "[<slot>-<-<source>]" on
-- its own line): only asked when a history key is missing.
local function importing(key)
  local slot = redis.call('CLUSTER', 'KEYSLOT', key)
  local mark = '[' .. slot .. '-<-'
  for line in string.gmatch(redis.call('CLUSTER', 'NODES'), '[^\n]+') do
    if string.find(line, 'myself', 1, true) then
      return string.find(line, mark, 1, true) ~= nil
    end
  end
  return false
end

-- Checks the key types, then makes sure the epoch belongs to the stream that
-- is there: a new epoch when the epoch key or the stream is missing.
-- Returns epoch, stream_exists, or nil and an error reply (nothing written).
local function ensure_epoch(stream, epoch_key, ttl)
  local st = key_type(stream)
  if st ~= 'stream' and st ~= 'none' then
    return nil, nil, redis.error_reply('WRONGTYPE history key ' .. stream .. ' is a ' .. st .. ', not a stream')
  end
  local et = key_type(epoch_key)
  if et ~= 'string' and et ~= 'none' then
    return nil, nil, redis.error_reply('WRONGTYPE epoch key ' .. epoch_key .. ' is a ' .. et .. ', not a string')
  end
  local epoch = nil
  if et == 'string' then
    epoch = redis.call('GET', epoch_key)
  end
  if st == 'none' or epoch == nil then
    if in_cluster() and importing(stream) then
      return nil, nil, redis.error_reply('TRYAGAIN the history of this channel is being migrated to this node')
    end
    epoch = new_epoch(epoch)
    redis.call('SET', epoch_key, epoch, 'EX', ttl)
  end
  return epoch, st == 'stream'
end

local function with_offset(json, id)
  local brace = string.find(json, '{', 1, true)
  local after = string.sub(json, brace + 1)
  local member = '"offset":"' .. id .. '"'
  if not string.match(after, '^[ \t\r\n]*}') then
    member = member .. ','
  end
  return string.sub(json, 1, brace) .. member .. after
end

local function publish(keys, args)
  if #keys ~= 1 then
    return err('portfolio_stream_publish takes 1 key: the channel')
  end
  if #args < 1 or #args > 3 then
    return err('usage: FCALL portfolio_stream_publish 1 <channel> <json> [maxlen] [ttl_seconds]')
  end
  local channel, json = keys[1], args[1]
  local maxlen, e1 = positive(args[2], DEFAULT_MAXLEN, 'maxlen')
  if not maxlen then
    return e1
  end
  local ttl, e2 = positive(args[3], DEFAULT_TTL, 'ttl_seconds')
  if not ttl then
    return e2
  end
  if not string.match(json, '^[ \t\r\n]*{') then
    return err('payload must be a JSON object')
  end
  if not pcall(cjson.decode, json) then
    return err('payload is not valid JSON')
  end
  local stream, epoch_key, e3 = history_keys(channel)
  if not stream then
    return e3
  end
  local epoch, exists, e4 = ensure_epoch(stream, epoch_key, ttl)
  if not epoch then
    return e4
  end
  if exists then
    local excess = redis.call('XLEN', stream) - maxlen + 1
    if excess > 0 then
      local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', excess)
      local ids = {}
      for i = 1, #old do
        ids[#ids + 1] = old[i][1]
        if #ids == XDEL_CHUNK or i == #old then
          redis.call('XDEL', stream, unpack(ids))
          ids = {}
        end
      end
    end
  end
  local id = redis.call('XADD', stream, '*', 'd', json)
  redis.call('EXPIRE', stream, ttl)
  redis.call('EXPIRE', epoch_key, ttl)
  local payload = with_offset(json, id)
  if in_cluster() then
    redis.call('SPUBLISH', channel, payload)
  else
    redis.call('PUBLISH', channel, payload)
  end
  return id
end

local function info_field(info, name)
  for i = 1, #info - 1, 2 do
    if info[i] == name then
      return info[i + 1]
    end
  end
  return nil
end

local function read(keys, args)
  if #keys ~= 1 then
    return err('portfolio_stream_read takes 1 key: the channel')
  end
  if #args ~= 3 then
    return err('usage: FCALL portfolio_stream_read 1 <channel> <since> <count> <ttl_seconds>')
  end
  local channel, since = keys[1], args[1]
  if since ~= '' and not valid_id(since) then
    return err('since must be a stream id ms-seq or ""')
  end
  local count, e1 = non_negative(args[2], 'count')
  if not count then
    return e1
  end
  local ttl, e2 = positive(args[3], nil, 'ttl_seconds')
  if not ttl then
    return e2 or err('ttl_seconds must be a positive integer')
  end
  local stream, epoch_key, e3 = history_keys(channel)
  if not stream then
    return e3
  end
  local epoch, exists, e4 = ensure_epoch(stream, epoch_key, ttl)
  if not epoch then
    return e4
  end
  if not exists then
    -- An empty stream, so that the first publish keeps this epoch: a client
    -- that connects before any event resumes from it. (MAXLEN 0 leaves
    -- max-deleted-entry-id at 0-0.)
    redis.call('XADD', stream, 'MAXLEN', '0', '*', 'd', '{}')
    redis.call('EXPIRE', stream, ttl)
  end
  local info = redis.call('XINFO', 'STREAM', stream)
  local out = {epoch, info_field(info, 'last-generated-id') or '0-0', info_field(info, 'max-deleted-entry-id') or '0-0'}
  if since ~= '' and count > 0 and not is_max_id(since) then
    local entries = redis.call('XRANGE', stream, '(' .. since, '+', 'COUNT', count)
    for i = 1, #entries do
      local fields = entries[i][2]
      local json = ''
      for j = 1, #fields - 1, 2 do
        if fields[j] == 'd' then
          json = fields[j + 1]
          break
        end
      end
      out[#out + 1] = entries[i][1]
      out[#out + 1] = json
    end
  end
  return out
end

redis.register_function{function_name = 'portfolio_stream_publish', callback = publish}
redis.register_function{function_name = 'portfolio_stream_read', callback = read}
redis.register_function{
  function_name = 'portfolio_stream_version',
  callback = function()
    return VERSION
  end,
  flags = {'no-writes'},
}

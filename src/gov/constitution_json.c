/*
 * JSON <-> Lua for the constitution engine.
 *
 * JSON to Lua runs in protected mode (it allocates Lua objects, and a
 * failure raises a Lua error that the call's lua_pcall catches; the jansson
 * tree is owned by the caller, so nothing leaks). Lua to JSON builds a
 * jansson tree and so must never raise: it uses only raw, non-allocating
 * Lua API calls and reports failure by returning NULL.
 */
#include "gov/constitution_priv.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>

/* The registry key of the metatable that marks JSON arrays. */
static const char array_mt_key = 0;

void cs_lua_json_init(lua_State *L)
{
    lua_createtable(L, 0, 1);
    /* a protected metatable: scripts see getmetatable(t) == "json_array"
     * and cannot replace it */
    lua_pushliteral(L, "json_array");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_pushlightuserdata(L, NULL);
    lua_setglobal(L, "json_null");
}

static void mark_array(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, -2);
}

static void push_json_at(lua_State *L, const json_t *j, int depth)
{
    if (depth > CS_LUA_JSON_MAX_DEPTH)
        luaL_error(L, "proposal nested deeper than %d levels", CS_LUA_JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "proposal nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t key_len;
        json_t *value;
        size_t n = json_object_size(j);
        lua_createtable(L, 0, n > INT32_MAX ? 0 : (int)n);
        json_object_keylen_foreach((json_t *)j, key, key_len, value)
        {
            lua_pushlstring(L, key, key_len);
            push_json_at(L, value, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json_at(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        mark_array(L);
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_pushlightuserdata(L, NULL);
        break;
    }
}

void cs_lua_push_json(lua_State *L, const json_t *j)
{
    push_json_at(L, j, 0);
}

void cs_lua_push_strings(lua_State *L, const char *const *s, size_t n)
{
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, s[i] != NULL ? s[i] : "");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mark_array(L);
}

void cs_lua_push_votes(lua_State *L, const cs_constitution_vote *v, size_t n)
{
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, v[i].member_id != NULL ? v[i].member_id : "");
        lua_setfield(L, -2, "member_id");
        lua_pushboolean(L, v[i].approve);
        lua_setfield(L, -2, "vote");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mark_array(L);
}

static json_t *to_json_at(lua_State *L, int idx, int depth, char *err, size_t errlen);

/* Is the table at idx marked as a JSON array? Raw access only. */
static bool is_marked_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    bool marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

/* Classifies a table without a mark: 1 array (keys exactly 1..n, n > 0),
 * 0 object (string keys only, or empty), -1 neither. */
static int classify(lua_State *L, int idx, lua_Integer *n)
{
    size_t n_int = 0, n_str = 0, n_other = 0;
    lua_Integer max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            n_str++;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            lua_Integer k = lua_tointeger(L, -1);
            n_int++;
            max = k > max ? k : max;
        } else {
            n_other++;
        }
    }
    *n = max;
    if (n_other > 0 || (n_int > 0 && n_str > 0))
        return -1;
    if (n_int == 0)
        return 0;
    return (lua_Integer)n_int == max ? 1 : -1;
}

static json_t *array_to_json(lua_State *L, int idx, lua_Integer n, int depth, char *err,
                             size_t errlen)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        json_t *v = to_json_at(L, -1, depth + 1, err, errlen);
        lua_pop(L, 1);
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            if (v != NULL)
                snprintf(err, errlen, "out of memory");
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *object_to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        size_t klen;
        const char *key = lua_tolstring(L, -2, &klen); /* a string: classify checked */
        json_t *v = to_json_at(L, -1, depth + 1, err, errlen);
        lua_pop(L, 1);
        if (v == NULL) {
            lua_pop(L, 1);
            json_decref(obj);
            return NULL;
        }
        if (json_object_setn_new(obj, key, klen, v) != 0) {
            snprintf(err, errlen, "key \"%.40s\" is not valid UTF-8", key);
            lua_pop(L, 1);
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *table_to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    if (depth > CS_LUA_JSON_MAX_DEPTH) {
        snprintf(err, errlen, "table nested deeper than %d levels (or a cycle)",
                 CS_LUA_JSON_MAX_DEPTH);
        return NULL;
    }
    if (!lua_checkstack(L, 6)) {
        snprintf(err, errlen, "Lua stack exhausted");
        return NULL;
    }
    if (is_marked_array(L, idx))
        return array_to_json(L, idx, (lua_Integer)lua_rawlen(L, idx), depth, err, errlen);
    lua_Integer n;
    switch (classify(L, idx, &n)) {
    case 1:
        return array_to_json(L, idx, n, depth, err, errlen);
    case 0:
        return object_to_json(L, idx, depth, err, errlen);
    default:
        snprintf(err, errlen,
                 "a table that is neither an array (keys 1..n) nor an object "
                 "(string keys)");
        return NULL;
    }
}

static json_t *to_json_at(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    idx = lua_absindex(L, idx);
    json_t *j = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL:
        j = json_null();
        break;
    case LUA_TBOOLEAN:
        j = lua_toboolean(L, idx) ? json_true() : json_false();
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            j = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d)) {
                snprintf(err, errlen, "number %g has no JSON form", d);
                return NULL;
            }
            j = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        j = json_stringn(s, len);
        if (j == NULL) {
            snprintf(err, errlen, "string \"%.40s\" is not valid UTF-8", s);
            return NULL;
        }
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            j = json_null();
            break;
        }
        snprintf(err, errlen, "cannot convert a userdata value to JSON");
        return NULL;
    case LUA_TTABLE:
        return table_to_json(L, idx, depth, err, errlen);
    default:
        snprintf(err, errlen, "cannot convert a %s value to JSON",
                 lua_typename(L, lua_type(L, idx)));
        return NULL;
    }
    if (j == NULL)
        snprintf(err, errlen, "out of memory");
    return j;
}

json_t *cs_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    return to_json_at(L, idx, 0, err, errlen);
}

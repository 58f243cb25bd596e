/*
 * An EVTX record's JSON to its Sigma-native fields, in one pass (optional accelerator).
 *
 * decode_usual(text) reads the compact JSON the native parser writes for one record and returns
 * (fields, timestamp), exactly what the Python paths of evtx_records.decode_record build, for
 * the shapes it knows: the System children Windows writes (ids as integers or digit strings,
 * Qualifiers, nulls where the schema allows them), named EventData items, unnamed ones, and
 * UserData leaves (99.5 % of the attack corpus's records). Anything else gets None: another
 * shape, a float, an integer past 64 bits, an array in UserData, a duplicate name, bad UTF-8,
 * bad JSON. None is never an error, only "not decided here": the Python paths then decide,
 * report and flatten as they always do. So this code never has to be right about unusual
 * input, only about what it accepts. decode_frame does the same for a whole record frame of the
 * EVTX worker and makes the events.
 *
 * The text comes from a worker that parses hostile files. Every read is bounds-checked against
 * the end of the buffer, nesting is capped, nothing is written outside buffers sized here, and
 * every failure path releases what it made.
 *
 * The timestamp is None when SystemTime is not in its canonical spelling
 * (YYYY-MM-DDTHH:MM:SS[.fraction]Z): Python's parse_windows_time then reads it. Where it is
 * computed here, it is computed with the same arithmetic as Python's, so it is the same float.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

/* Outcome of a step: OK, or NO (not the usual shape, or a Python error to be cleared). */
enum { OK = 0, NO = -1 };

static void skip_space(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) {
        c->p++;
    }
}

static int take(Cursor *c, unsigned char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A raw JSON string (the cursor on its opening quote): where its content starts, its length in
 * bytes, and whether it holds escapes. Control characters are invalid JSON. Eight bytes at a
 * time are checked for a quote, a backslash or a control byte (most strings have none). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t zero_bytes(uint64_t v) {
    return (v - ONES) & ~v & HIGHS;
}

static int scan_string(Cursor *c, const unsigned char **start, Py_ssize_t *length, int *escaped) {
    skip_space(c);
    if (c->p >= c->end || *c->p != '"') {
        return NO;
    }
    const unsigned char *p = ++c->p;
    *escaped = 0;
    while (p < c->end) {
#if defined(__SSE2__) && defined(__GNUC__)
        /* 16 bytes at a time where SSE2 is there (every x86-64): a quote, a backslash, or a
         * byte below 0x20 (the bytes whose maximum with 0x1F is 0x1F) ends the run. */
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
        const __m128i controls = _mm_set1_epi8(0x1F);
        while (c->end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                _mm_cmpeq_epi8(_mm_max_epu8(v, controls), controls));
            int mask = _mm_movemask_epi8(hits);
            if (mask) {
                p += __builtin_ctz((unsigned int)mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (c->end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            /* bytes below 0x20 (each tested alone: no borrow crosses a byte below 0x80) */
            uint64_t special = zero_bytes(v ^ (ONES * '"')) | zero_bytes(v ^ (ONES * '\\')) |
                ((v - ONES * 0x20) & ~v & HIGHS);
            if (special) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* the lowest flagged byte is a real one (false flags only follow a real one) */
                p += __builtin_ctzll(special) / 8;
#endif
                break;
            }
            p += 8;
        }
#if defined(__SSE2__) && defined(__GNUC__)
    special:
#endif
        if (p >= c->end) {
            break;
        }
        unsigned char ch = *p;
        if (ch == '"') {
            *start = c->p;
            *length = p - c->p;
            c->p = p + 1;
            return OK;
        }
        if (ch == '\\') {
            *escaped = 1;
            p += 2; /* the escaped byte is checked when the string is decoded */
            continue;
        }
        if (ch < 0x20) {
            return NO;
        }
        p++;
    }
    return NO;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned int *out) {
    if (end - p < 4) {
        return NO;
    }
    unsigned int value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        value <<= 4;
        if (ch >= '0' && ch <= '9') {
            value |= (unsigned int)(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            value |= (unsigned int)(ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            value |= (unsigned int)(ch - 'A' + 10);
        } else {
            return NO;
        }
    }
    *out = value;
    return OK;
}

/* The str of a scanned JSON string; NULL (with a Python error set) when it is not valid. */
static PyObject *make_string(const unsigned char *s, Py_ssize_t n, int escaped) {
    if (!escaped) {
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    }
    /* Unescaped UTF-8 is never longer than its escaped form. */
    char small[512];
    small[0] = 0;
    char *buf = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t w = 0;
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        if (*p != '\\') {
            buf[w++] = (char)*p++;
            continue;
        }
        if (end - p < 2) {
            goto bad;
        }
        unsigned char kind = p[1];
        p += 2;
        unsigned int code;
        switch (kind) {
        case '"': buf[w++] = '"'; continue;
        case '\\': buf[w++] = '\\'; continue;
        case '/': buf[w++] = '/'; continue;
        case 'b': buf[w++] = '\b'; continue;
        case 'f': buf[w++] = '\f'; continue;
        case 'n': buf[w++] = '\n'; continue;
        case 'r': buf[w++] = '\r'; continue;
        case 't': buf[w++] = '\t'; continue;
        case 'u':
            if (hex4(p, end, &code) != OK) {
                goto bad;
            }
            p += 4;
            if (code >= 0xDC00 && code <= 0xDFFF) {
                goto bad; /* a lone low surrogate: left to the Python paths */
            }
            if (code >= 0xD800 && code <= 0xDBFF) {
                unsigned int low;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low) != OK ||
                    low < 0xDC00 || low > 0xDFFF) {
                    goto bad;
                }
                p += 6;
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            /* 6 escaped bytes always cover the at most 4 bytes written here. */
            if (code < 0x80) {
                buf[w++] = (char)code;
            } else if (code < 0x800) {
                buf[w++] = (char)(0xC0 | (code >> 6));
                buf[w++] = (char)(0x80 | (code & 0x3F));
            } else if (code < 0x10000) {
                buf[w++] = (char)(0xE0 | (code >> 12));
                buf[w++] = (char)(0x80 | ((code >> 6) & 0x3F));
                buf[w++] = (char)(0x80 | (code & 0x3F));
            } else {
                buf[w++] = (char)(0xF0 | (code >> 18));
                buf[w++] = (char)(0x80 | ((code >> 12) & 0x3F));
                buf[w++] = (char)(0x80 | ((code >> 6) & 0x3F));
                buf[w++] = (char)(0x80 | (code & 0x3F));
            }
            continue;
        default:
            goto bad;
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8(buf, w, NULL);
    if (buf != small) {
        PyMem_Free(buf);
    }
    return text;
bad:
    if (buf != small) {
        PyMem_Free(buf);
    }
    PyErr_SetString(PyExc_ValueError, "bad escape");
    return NULL;
}

/* Short ASCII strings recur (names, channels, hosts, providers, small values): one str per
 * spelling is kept in a direct-mapped table, so a recurring one costs a hash of its bytes and a
 * compare instead of a new object, and its own hash is computed once. Bounded: CACHE_SIZE
 * strings of at most CACHE_MAX_LENGTH characters. */
#define CACHE_SIZE 4096
#define CACHE_MAX_LENGTH 48
static PyObject *cache[CACHE_SIZE];

static inline uint64_t load8(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* a fixed size: compiled to one load */
    return v;
}

/* Whether the n bytes at a and b are the same (n <= CACHE_MAX_LENGTH): words, not a call. */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t n) {
    if (n < 8) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (a[i] != b[i]) {
                return 0;
            }
        }
        return 1;
    }
    for (Py_ssize_t i = 0; i + 8 <= n; i += 8) {
        if (load8(a + i) != load8(b + i)) {
            return 0;
        }
    }
    return load8(a + n - 8) == load8(b + n - 8); /* the tail, overlapping the last word */
}

static PyObject *plain_string(const unsigned char *s, Py_ssize_t n) {
    if (n > CACHE_MAX_LENGTH) {
        return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    }
    /* The slot from the length and up to three words (first, middle, last: spellings that
     * share a prefix, as paths and times do, differ there), every read within the string. */
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    if (n >= 8) {
        h ^= load8(s) * 0xFF51AFD7ED558CCDULL;
        h ^= load8(s + n - 8) * 0xC4CEB9FE1A85EC53ULL;
        if (n > 16) {
            h ^= load8(s + n / 2 - 4) * 0xD6E8FEB86659FD93ULL;
        }
    } else {
        uint64_t word = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            word |= (uint64_t)s[i] << (8 * i);
        }
        h ^= word * 0xFF51AFD7ED558CCDULL;
    }
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    PyObject **slot = &cache[h & (CACHE_SIZE - 1)];
    PyObject *hit = *slot;
    if (hit != NULL && PyUnicode_GET_LENGTH(hit) == n &&
        same_bytes(PyUnicode_DATA(hit), s, n)) {
        return Py_NewRef(hit);
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    if (text != NULL && PyUnicode_IS_COMPACT_ASCII(text)) {
        Py_XSETREF(*slot, Py_NewRef(text)); /* only ASCII is kept: its data is its UTF-8 */
    }
    return text;
}

static PyObject *read_string(Cursor *c) {
    const unsigned char *s;
    Py_ssize_t n;
    int escaped;
    if (scan_string(c, &s, &n, &escaped) != OK) {
        return NULL;
    }
    return escaped ? make_string(s, n, 1) : plain_string(s, n);
}

/* A JSON integer that fits in 64 signed bits; NO for a fraction, an exponent or anything
 * larger (the Python paths decide on those). */
static int read_int(Cursor *c, int64_t *out) {
    skip_space(c);
    const unsigned char *p = c->p;
    int negative = 0;
    if (p < c->end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= c->end || *p < '0' || *p > '9') {
        return NO;
    }
    if (*p == '0' && p + 1 < c->end && p[1] >= '0' && p[1] <= '9') {
        return NO; /* a leading zero is invalid JSON */
    }
    uint64_t value = 0;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (p < c->end && *p >= '0' && *p <= '9') {
        unsigned int digit = (unsigned int)(*p - '0');
        if (value > (limit - digit) / 10) {
            return NO;
        }
        value = value * 10 + digit;
        p++;
    }
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return NO;
    }
    c->p = p;
    if (negative) {
        *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    } else {
        *out = (int64_t)value;
    }
    return OK;
}

static int take_word(Cursor *c, const char *word, size_t n) {
    skip_space(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* Reads past any JSON value the same Python paths would accept (strings decoded, so invalid
 * UTF-8 is refused as they refuse it); NO on floats and large numbers, which are left to them. */
static int skip_value(Cursor *c, int depth) {
    if (depth > MAX_DEPTH) {
        return NO;
    }
    skip_space(c);
    if (c->p >= c->end) {
        return NO;
    }
    unsigned char ch = *c->p;
    if (ch == '"') {
        PyObject *text = read_string(c);
        if (text == NULL) {
            return NO;
        }
        Py_DECREF(text);
        return OK;
    }
    if (ch == '{' || ch == '[') {
        unsigned char close = ch == '{' ? '}' : ']';
        c->p++;
        if (take(c, close)) {
            return OK;
        }
        do {
            if (ch == '{') {
                PyObject *key = read_string(c);
                if (key == NULL) {
                    return NO;
                }
                Py_DECREF(key);
                if (!take(c, ':')) {
                    return NO;
                }
            }
            if (skip_value(c, depth + 1) != OK) {
                return NO;
            }
        } while (take(c, ','));
        return take(c, close) ? OK : NO;
    }
    if (take_word(c, "true", 4) || take_word(c, "false", 5) || take_word(c, "null", 4)) {
        return OK;
    }
    int64_t ignored;
    return read_int(c, &ignored);
}

/* The names the typed path builds, made once. */
static PyObject *K_EventID, *K_Qualifiers, *K_Version, *K_Level, *K_Task, *K_Opcode,
    *K_Keywords, *K_EventRecordID, *K_Channel, *K_Computer, *K_Provider_Name, *K_Provider_Guid,
    *K_Provider_EventSourceName, *K_SystemTime, *K_ProcessID, *K_ThreadID, *K_UserID,
    *K_ActivityID, *K_RelatedActivityID, *K_Data, *K_attributes, *K_UserData;

/* What System holds, as the typed path's _system_fields reads it. Each member is a new
 * reference, or NULL when absent; None is a value (a null the schema allows and keeps). */
typedef struct {
    PyObject *event_id, *qualifiers, *version, *level, *task, *opcode, *keywords, *record;
    PyObject *channel, *computer, *name, *guid, *source_name, *stamp, *pid, *tid;
    PyObject *user, *activity, *related;
    unsigned int seen; /* one bit per System child and per attribute: duplicates are refused */
    double ts;
    int has_ts;
} System;

static void system_clear(System *s) {
    PyObject **members[] = {
        &s->event_id, &s->qualifiers, &s->version, &s->level, &s->task, &s->opcode,
        &s->keywords, &s->record, &s->channel, &s->computer, &s->name, &s->guid,
        &s->source_name, &s->stamp, &s->pid, &s->tid, &s->user, &s->activity, &s->related,
    };
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        Py_CLEAR(*members[i]);
    }
}

/* A raw key against a literal name. */
#define key_is(k, n, name) ((n) == (Py_ssize_t)sizeof(name) - 1 && memcmp((k), (name), (n)) == 0)

/* Whether a raw name is valid UTF-8: a name compared with none of the known ones and skipped
 * must still be text, as the Python paths' decoders require of the whole record. */
static int valid_name(const unsigned char *k, Py_ssize_t n) {
    PyObject *name = PyUnicode_DecodeUTF8((const char *)k, n, NULL);
    if (name == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(name);
    return 1;
}

/* A member's name and its colon; names with escapes are never the ones looked for (NO). */
static int member_name(Cursor *c, const unsigned char **k, Py_ssize_t *n) {
    int escaped;
    return scan_string(c, k, n, &escaped) == OK && !escaped && take(c, ':') ? OK : NO;
}

/* A member stored once (a second one is a duplicate: NO). */
static int store_string(Cursor *c, PyObject **slot) {
    if (*slot != NULL) {
        return NO;
    }
    *slot = read_string(c);
    return *slot == NULL ? NO : OK;
}

/* A string, or null kept as None (the schema's ``str | None``). */
static int store_string_or_null(Cursor *c, PyObject **slot) {
    if (*slot != NULL) {
        return NO;
    }
    if (take_word(c, "null", 4)) {
        *slot = Py_NewRef(Py_None);
        return OK;
    }
    return store_string(c, slot);
}

/* An id as the typed path keeps it: a JSON integer (64 bits), or a string through as_int (an
 * int when it is all ASCII digits with an optional minus, else the string itself), or, where
 * allowed, null as None. NO for the strings whose as_int result needs Python's own rules:
 * escapes, non-ASCII text (Unicode digits), surrounding whitespace, more than 18 digits. */
static int store_id(Cursor *c, PyObject **slot, int nullable) {
    if (*slot != NULL) {
        return NO;
    }
    skip_space(c);
    if (c->p < c->end && *c->p == '"') {
        const unsigned char *s;
        Py_ssize_t n;
        int escaped;
        if (scan_string(c, &s, &n, &escaped) != OK || escaped) {
            return NO;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (s[i] >= 0x80) {
                return NO;
            }
        }
        if (n > 0 && (s[0] <= ' ' || s[n - 1] <= ' ')) {
            return NO;
        }
        Py_ssize_t first = n > 0 && s[0] == '-';
        int numeric = n > first;
        for (Py_ssize_t i = first; i < n && numeric; i++) {
            numeric = s[i] >= '0' && s[i] <= '9';
        }
        if (!numeric) {
            *slot = plain_string(s, n);
        } else if (n - first > 18) {
            return NO;
        } else {
            int64_t value = 0;
            for (Py_ssize_t i = first; i < n; i++) {
                value = value * 10 + (s[i] - '0');
            }
            *slot = PyLong_FromLongLong(first ? -value : value);
        }
        return *slot == NULL ? NO : OK;
    }
    if (take_word(c, "null", 4)) {
        if (!nullable) {
            return NO;
        }
        *slot = Py_NewRef(Py_None);
        return OK;
    }
    int64_t value;
    if (read_int(c, &value) != OK) {
        return NO;
    }
    *slot = PyLong_FromLongLong(value);
    return *slot == NULL ? NO : OK;
}

/* Days from 1970-01-01 to the first of a month, proleptic Gregorian (what Python's
 * calendar.timegm counts with date.toordinal). */
static int64_t days_to_month(int64_t year, int64_t month) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const unsigned char *s, int n, int64_t *out) {
    int64_t value = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return NO;
        }
        value = value * 10 + (s[i] - '0');
    }
    *out = value;
    return OK;
}

/* SystemTime in its canonical spelling to epoch seconds, as parse_windows_time computes them:
 * the minute's epoch (timegm, which checks only the year and the month) plus float() of the
 * seconds. NO when the spelling differs in any way: Python reads those. */
static int canonical_time(const unsigned char *s, Py_ssize_t n, double *out) {
    int64_t year, month, day, hour, minute;
    if (n < 20 || n > 40 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[n - 1] != 'Z' || digits(s, 4, &year) != OK ||
        digits(s + 5, 2, &month) != OK || digits(s + 8, 2, &day) != OK ||
        digits(s + 11, 2, &hour) != OK || digits(s + 14, 2, &minute) != OK || year < 1 ||
        month < 1 || month > 12) {
        return NO;
    }
    /* Seconds: two digits, then optionally a dot and at least one digit. */
    const unsigned char *sec = s + 17, *stop = s + n - 1;
    if (stop - sec < 2 || sec[0] < '0' || sec[0] > '9' || sec[1] < '0' || sec[1] > '9') {
        return NO;
    }
    if (stop - sec > 2) {
        if (sec[2] != '.' || stop - sec < 4) {
            return NO;
        }
        for (const unsigned char *q = sec + 3; q < stop; q++) {
            if (*q < '0' || *q > '9') {
                return NO;
            }
        }
    }
    double seconds;
    Py_ssize_t places = stop - sec > 2 ? stop - sec - 3 : 0;
    if (places <= 13) {
        /* At most 15 digits: exact as an integer, and 10**places is exact too, so their
         * quotient is the correctly rounded value of the decimal, which is what float() gives. */
        static const double powers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
                                        1e10, 1e11, 1e12, 1e13};
        int64_t whole = (sec[0] - '0') * 10 + (sec[1] - '0');
        for (const unsigned char *q = sec + 3; q < stop; q++) {
            whole = whole * 10 + (*q - '0');
        }
        seconds = (double)whole / powers[places];
    } else {
        char buffer[48];
        size_t length = (size_t)(stop - sec);
        memcpy(buffer, sec, length);
        buffer[length] = '\0';
        seconds = PyOS_string_to_double(buffer, NULL, NULL);
        if (seconds == -1.0 && PyErr_Occurred()) {
            return NO;
        }
    }
    int64_t days = days_to_month(year, month) + day - 1;
    int64_t epoch = ((days * 24 + hour) * 60 + minute) * 60;
    *out = (double)epoch + seconds;
    /* Past what datetime holds (9999-12-99T99:99:99Z is spelled canonically): Python decides,
     * and gives None (readers/timestamps.py, MAX_EPOCH). */
    if (!(*out >= -62135596800.0 && *out <= 253402300799.0)) {
        return NO;
    }
    return OK;
}

/* {"#attributes": {...}}: the cursor ends inside the attribute object, past its '{'. NO for
 * any other member or form (the schema forbids unknown members). */
static int open_attributes(Cursor *c) {
    const unsigned char *k;
    Py_ssize_t n;
    if (!take(c, '{') || member_name(c, &k, &n) != OK || !key_is(k, n, "#attributes") ||
        !take(c, '{')) {
        return NO;
    }
    return OK;
}

/* The members of an object, the cursor past its '{'; each member is handed to ``member`` with
 * its name (names with escapes are never the names looked for). Ends past the object's '}'. */
typedef int (*Member)(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s);

static int members(Cursor *c, System *s, Member member) {
    if (take(c, '}')) {
        return OK;
    }
    do {
        const unsigned char *k;
        Py_ssize_t n;
        if (member_name(c, &k, &n) != OK || member(c, k, n, s) != OK) {
            return NO;
        }
    } while (take(c, ','));
    return take(c, '}') ? OK : NO;
}

static int provider_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    PyObject **slot = key_is(k, n, "Name") ? &s->name
        : key_is(k, n, "Guid")                ? &s->guid
        : key_is(k, n, "EventSourceName")     ? &s->source_name
                                              : NULL;
    return slot != NULL ? store_string_or_null(c, slot) : NO;
}

static int time_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    if (!key_is(k, n, "SystemTime") || s->stamp != NULL) {
        return NO;
    }
    const unsigned char *v;
    Py_ssize_t length;
    int escaped;
    if (scan_string(c, &v, &length, &escaped) != OK) {
        return NO;
    }
    s->stamp = make_string(v, length, escaped);
    if (s->stamp == NULL) {
        return NO;
    }
    s->has_ts = !escaped && canonical_time(v, length, &s->ts) == OK;
    PyErr_Clear(); /* a failed float parse only means Python reads the stamp */
    return OK;
}

static int execution_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    PyObject **slot = key_is(k, n, "ProcessID") ? &s->pid
        : key_is(k, n, "ThreadID")                ? &s->tid
                                                  : NULL;
    return slot != NULL ? store_id(c, slot, 0) : NO;
}

static int security_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    return key_is(k, n, "UserID") ? store_string(c, &s->user) : NO;
}

static int correlation_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    PyObject **slot = key_is(k, n, "ActivityID") ? &s->activity
        : key_is(k, n, "RelatedActivityID")        ? &s->related
                                                   : NULL;
    return slot != NULL ? store_string(c, slot) : NO;
}

static int qualifier_member(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
    return key_is(k, n, "Qualifiers") ? store_id(c, &s->qualifiers, 1) : NO;
}

/* An element of attributes only; null (kept as absent) where the schema allows it. */
static int attributed(Cursor *c, System *s, Member member, int nullable) {
    if (nullable && take_word(c, "null", 4)) {
        return OK;
    }
    if (open_attributes(c) != OK || members(c, s, member) != OK) {
        return NO;
    }
    return take(c, '}') ? OK : NO; /* the wrapper's own '}' */
}

/* EventID: an id, or {"#attributes": {"Qualifiers": id}, "#text": id} in either order. */
static int event_id(Cursor *c, System *s) {
    skip_space(c);
    if (c->p >= c->end || *c->p != '{') {
        return store_id(c, &s->event_id, 0);
    }
    c->p++;
    int seen_attributes = 0;
    do {
        const unsigned char *k;
        Py_ssize_t n;
        if (member_name(c, &k, &n) != OK) {
            return NO;
        }
        if (key_is(k, n, "#attributes") && !seen_attributes) {
            seen_attributes = 1;
            if (!take(c, '{') || members(c, s, qualifier_member) != OK) {
                return NO;
            }
        } else if (!key_is(k, n, "#text") || store_id(c, &s->event_id, 0) != OK) {
            return NO;
        }
    } while (take(c, ','));
    /* both parts are required, the Qualifiers attribute too */
    return take(c, '}') && s->event_id != NULL && s->qualifiers != NULL ? OK : NO;
}

enum {
    C_PROVIDER,
    C_EVENT_ID,
    C_VERSION,
    C_LEVEL,
    C_TASK,
    C_OPCODE,
    C_KEYWORDS,
    C_TIME,
    C_RECORD,
    C_CORRELATION,
    C_EXECUTION,
    C_CHANNEL,
    C_COMPUTER,
    C_SECURITY,
};

static int system_child(Cursor *c, const unsigned char *k, Py_ssize_t n, System *s) {
#define NAME(text) {text, sizeof(text) - 1}
    static const struct {
        const char *text;
        Py_ssize_t length;
    } names[] = {
        NAME("Provider"), NAME("EventID"), NAME("Version"), NAME("Level"), NAME("Task"),
        NAME("Opcode"), NAME("Keywords"), NAME("TimeCreated"), NAME("EventRecordID"),
        NAME("Correlation"), NAME("Execution"), NAME("Channel"), NAME("Computer"),
        NAME("Security"),
    };
#undef NAME
    int child = -1;
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        if (names[i].length == n && memcmp(k, names[i].text, (size_t)n) == 0) {
            child = i;
            break;
        }
    }
    if (child < 0 || (s->seen & (1u << child))) {
        return NO;
    }
    s->seen |= 1u << child;
    switch (child) {
    case C_PROVIDER: return attributed(c, s, provider_member, 0);
    case C_EVENT_ID: return event_id(c, s);
    case C_VERSION: return store_id(c, &s->version, 1);
    case C_LEVEL: return store_id(c, &s->level, 1);
    case C_TASK: return store_id(c, &s->task, 1);
    case C_OPCODE: return store_id(c, &s->opcode, 1);
    case C_KEYWORDS:
        /* a null Keywords is dropped, as by the typed path */
        return take_word(c, "null", 4) ? OK : store_string(c, &s->keywords);
    case C_TIME: return attributed(c, s, time_member, 0);
    case C_RECORD: return store_id(c, &s->record, 0);
    case C_CORRELATION: return attributed(c, s, correlation_member, 1);
    case C_EXECUTION:
        if (take_word(c, "null", 4)) {
            return OK;
        }
        /* present, it must hold both ids */
        return attributed(c, s, execution_member, 0) == OK && s->pid != NULL && s->tid != NULL
            ? OK
            : NO;
    case C_CHANNEL: return store_string(c, &s->channel);
    case C_COMPUTER: return store_string(c, &s->computer);
    default:
        if (take_word(c, "null", 4)) {
            return OK;
        }
        /* present, it must name the user (the typed path refuses it otherwise) */
        return attributed(c, s, security_member, 0) == OK && s->user != NULL ? OK : NO;
    }
}

/* The children the schema requires: Provider, EventID, TimeCreated, EventRecordID, Channel and
 * Computer (their own required parts are checked where they are read). */
static const unsigned int REQUIRED = (1u << C_PROVIDER) | (1u << C_EVENT_ID) | (1u << C_TIME) |
    (1u << C_RECORD) | (1u << C_CHANNEL) | (1u << C_COMPUTER);

static int read_system(Cursor *c, System *s) {
    if (!take(c, '{') || take(c, '}') || members(c, s, system_child) != OK) {
        return NO;
    }
    return (s->seen & REQUIRED) == REQUIRED && s->stamp != NULL ? OK : NO;
}

static int set(PyObject *out, PyObject *key, PyObject *value) {
    return value != NULL && PyDict_SetItem(out, key, value) ? NO : OK;
}

/* The System fields in the typed path's order: the plain and id children, the attributes,
 * and an EventID that carried Qualifiers after the rest. */
static PyObject *system_fields(System *s) {
#if PY_VERSION_HEX < 0x030E0000
    PyObject *out = _PyDict_NewPresized(32); /* System and EventData fit without a resize */
#else
    PyObject *out = PyDict_New();
#endif
    if (out == NULL) {
        return NULL;
    }
    PyObject *leading_id = s->qualifiers == NULL ? s->event_id : NULL;
    if (set(out, K_EventID, leading_id) || set(out, K_Version, s->version) ||
        set(out, K_Level, s->level) || set(out, K_Task, s->task) ||
        set(out, K_Opcode, s->opcode) || set(out, K_Keywords, s->keywords) ||
        set(out, K_EventRecordID, s->record) || set(out, K_Channel, s->channel) ||
        set(out, K_Computer, s->computer) || set(out, K_Provider_Name, s->name) ||
        set(out, K_Provider_Guid, s->guid) ||
        set(out, K_Provider_EventSourceName, s->source_name) ||
        set(out, K_SystemTime, s->stamp) || set(out, K_ProcessID, s->pid) ||
        set(out, K_ThreadID, s->tid) || set(out, K_UserID, s->user) ||
        set(out, K_ActivityID, s->activity) || set(out, K_RelatedActivityID, s->related) ||
        (s->qualifiers != NULL && (set(out, K_Qualifiers, s->qualifiers) ||
                                   set(out, K_EventID, s->event_id)))) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* A scalar value as the Python paths decode it: a string, a 64-bit integer, true, false or null
 * (a new reference); NULL for anything else (floats, larger integers, objects, arrays). */
static PyObject *read_scalar(Cursor *c) {
    skip_space(c);
    if (c->p < c->end && *c->p == '"') {
        return read_string(c);
    }
    if (take_word(c, "null", 4)) {
        return Py_NewRef(Py_None);
    }
    if (take_word(c, "true", 4)) {
        return Py_NewRef(Py_True);
    }
    if (take_word(c, "false", 5)) {
        return Py_NewRef(Py_False);
    }
    int64_t number;
    return read_int(c, &number) == OK ? PyLong_FromLongLong(number) : NULL;
}

/* Whether ``name`` is a field the System part of this record made. */
static int system_made(System *s, PyObject *name) {
    struct {
        PyObject *key, *value;
    } made[] = {
        {K_EventID, s->event_id},
        {K_Qualifiers, s->qualifiers},
        {K_Version, s->version},
        {K_Level, s->level},
        {K_Task, s->task},
        {K_Opcode, s->opcode},
        {K_Keywords, s->keywords},
        {K_EventRecordID, s->record},
        {K_Channel, s->channel},
        {K_Computer, s->computer},
        {K_Provider_Name, s->name},
        {K_Provider_Guid, s->guid},
        {K_Provider_EventSourceName, s->source_name},
        {K_SystemTime, s->stamp},
        {K_ProcessID, s->pid},
        {K_ThreadID, s->tid},
        {K_UserID, s->user},
        {K_ActivityID, s->activity},
        {K_RelatedActivityID, s->related},
    };
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        if (made[i].value != NULL && PyUnicode_Compare(name, made[i].key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The general path's _put for an EventData item: ``name``, or ``EventData.name`` when a System
 * field has that name. Any other clash (a duplicate item, or a name made by the unnamed items)
 * is left to the Python paths (NO), which see the items deduplicated. */
static int put_item(PyObject *out, PyObject *name, PyObject *value, System *s) {
    int clash = PyDict_Contains(out, name);
    if (clash < 0 || (clash && !system_made(s, name))) {
        return NO;
    }
    if (!clash) {
        return PyDict_SetItem(out, name, value) ? NO : OK;
    }
    PyObject *fallback = PyUnicode_FromFormat("EventData.%U", name);
    if (fallback == NULL) {
        return NO;
    }
    int failed = PyDict_SetItem(out, fallback, value);
    Py_DECREF(fallback);
    return failed ? NO : OK;
}

/* One unnamed item appended to ``items`` (a string or an integer; a null is dropped). */
static int unnamed_item(Cursor *c, PyObject *items) {
    PyObject *item = read_scalar(c);
    if (item == NULL || PyBool_Check(item)) { /* str(True) in the joined text: left to Python */
        Py_XDECREF(item);
        return NO;
    }
    int failed = item != Py_None && PyList_Append(items, item);
    Py_DECREF(item);
    return failed ? NO : OK;
}

/* EventData's unnamed items: {"#text": text or [texts]} (other members ignored, as _text_of
 * does), a text, or a list of texts; strings and integers only, nulls dropped. They become
 * ``Data`` (one item, or all of them joined by newlines) and ``Data_1``..``Data_n``. */
static int unnamed_data(Cursor *c, PyObject *out, System *s) {
    PyObject *items = PyList_New(0), *value = NULL;
    int result = NO, seen_text = 0;
    if (items == NULL) {
        return NO;
    }
    skip_space(c);
    int wrapped = c->p < c->end && *c->p == '{';
    if (wrapped) {
        c->p++;
        if (take(c, '}')) {
            goto done; /* no #text: the dict itself would be the item */
        }
    }
    do {
        if (wrapped) {
            const unsigned char *k;
            Py_ssize_t n;
            if (member_name(c, &k, &n) != OK) {
                goto done;
            }
            if (!key_is(k, n, "#text")) {
                if (!valid_name(k, n) || skip_value(c, 0) != OK) {
                    goto done;
                }
                continue;
            }
            if (seen_text++) {
                goto done;
            }
        }
        skip_space(c);
        if (c->p < c->end && *c->p == '[') {
            c->p++;
            if (!take(c, ']')) {
                do {
                    if (unnamed_item(c, items) != OK) {
                        goto done;
                    }
                } while (take(c, ','));
                if (!take(c, ']')) {
                    goto done;
                }
            }
        } else if (unnamed_item(c, items) != OK) {
            goto done;
        }
    } while (wrapped && take(c, ','));
    if (wrapped && (!take(c, '}') || !seen_text)) {
        goto done;
    }
    Py_ssize_t count = PyList_GET_SIZE(items);
    if (count == 0) {
        result = OK;
        goto done;
    }
    if (count == 1) {
        value = Py_NewRef(PyList_GET_ITEM(items, 0));
    } else {
        PyObject *texts = PyList_New(count);
        if (texts == NULL) {
            goto done;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *text = PyObject_Str(PyList_GET_ITEM(items, i));
            if (text == NULL) {
                Py_DECREF(texts);
                goto done;
            }
            PyList_SET_ITEM(texts, i, text);
        }
        PyObject *newline = PyUnicode_FromString("\n");
        value = newline == NULL ? NULL : PyUnicode_Join(newline, texts);
        Py_XDECREF(newline);
        Py_DECREF(texts);
        if (value == NULL) {
            goto done;
        }
    }
    if (put_item(out, K_Data, value, s) != OK) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyUnicode_FromFormat("Data_%zd", i + 1);
        int failed = name == NULL || put_item(out, name, PyList_GET_ITEM(items, i), s) != OK;
        Py_XDECREF(name);
        if (failed) {
            goto done;
        }
    }
    result = OK;
done:
    Py_XDECREF(value);
    Py_DECREF(items);
    return result;
}

/* EventData into ``out`` as the general path does: named scalar items under their names (a name
 * System has too goes under ``EventData.name``), unnamed items as ``Data`` and ``Data_n``. NO for
 * attributes, nested values, floats and duplicate names. */
static int read_event_data(Cursor *c, PyObject *out, System *s) {
    if (take_word(c, "null", 4)) {
        return OK;
    }
    if (!take(c, '{')) {
        return NO;
    }
    if (take(c, '}')) {
        return OK;
    }
    int seen_data = 0;
    do {
        const unsigned char *k;
        Py_ssize_t n;
        int escaped;
        if (scan_string(c, &k, &n, &escaped) != OK || !take(c, ':')) {
            return NO;
        }
        if (!escaped && key_is(k, n, "Data")) {
            if (seen_data++ || unnamed_data(c, out, s) != OK) {
                return NO;
            }
            continue;
        }
        PyObject *key = escaped ? make_string(k, n, 1) : plain_string(k, n);
        if (key == NULL) {
            return NO;
        }
        PyObject *value = NULL;
        if ((!escaped && key_is(k, n, "#attributes")) ||
            (escaped && (PyUnicode_Compare(key, K_Data) == 0 ||
                         PyUnicode_Compare(key, K_attributes) == 0)) ||
            (value = read_scalar(c)) == NULL) {
            Py_DECREF(key);
            return NO;
        }
        int failed = put_item(out, key, value, s);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            return NO;
        }
    } while (take(c, ','));
    return take(c, '}') ? OK : NO;
}

/* UserData as the general path's _leaves: each scalar leaf under its element's name, or under
 * its dotted path from UserData when that name is taken; a #text under its element's name;
 * attributes and nulls dropped. ``path`` is the dotted path so far. NO for arrays, floats, a
 * scalar UserData and duplicate names in one element. */
/* A leaf under the last part of its dotted path, or under the whole path when that name is
 * taken (the general path's _put). */
static int put_leaf(PyObject *out, PyObject *path, PyObject *value) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(path);
    Py_ssize_t dot = PyUnicode_FindChar(path, '.', 0, length, -1);
    if (dot < -1) {
        return NO;
    }
    PyObject *name = dot < 0 ? Py_NewRef(path) : PyUnicode_Substring(path, dot + 1, length);
    int clash = name == NULL ? -1 : PyDict_Contains(out, name);
    int result = clash < 0 || PyDict_SetItem(out, clash ? path : name, value) ? NO : OK;
    Py_XDECREF(name);
    return result;
}

static int read_leaves(Cursor *c, PyObject *out, PyObject *path, int depth) {
    skip_space(c);
    if (depth > MAX_DEPTH || c->p >= c->end) {
        return NO;
    }
    if (*c->p != '{') {
        PyObject *value = depth > 0 ? read_scalar(c) : NULL;
        if (value == NULL) {
            return NO;
        }
        int result = value == Py_None ? OK : put_leaf(out, path, value);
        Py_DECREF(value);
        return result;
    }
    c->p++;
    if (take(c, '}')) {
        return OK;
    }
    PyObject *names = PySet_New(NULL); /* the element's member names: duplicates are refused */
    if (names == NULL) {
        return NO;
    }
    int result = NO;
    do {
        PyObject *key = read_string(c);
        if (key == NULL || !take(c, ':') || PySet_Contains(names, key) != 0 ||
            PySet_Add(names, key) != 0) {
            Py_XDECREF(key);
            goto done;
        }
        int step;
        if (PyUnicode_Compare(key, K_attributes) == 0) {
            step = skip_value(c, depth + 1);
        } else if (PyUnicode_CompareWithASCIIString(key, "#text") == 0) {
            /* the element's text, under the element's own name (null kept, as _leaves does) */
            PyObject *value = depth > 0 ? read_scalar(c) : NULL;
            step = value == NULL ? NO : put_leaf(out, path, value);
            Py_XDECREF(value);
        } else {
            PyObject *child = PyUnicode_FromFormat("%U.%U", path, key);
            step = child == NULL ? NO : read_leaves(c, out, child, depth + 1);
            Py_XDECREF(child);
        }
        Py_DECREF(key);
        if (step != OK) {
            goto done;
        }
    } while (take(c, ','));
    result = take(c, '}') ? OK : NO;
done:
    Py_DECREF(names);
    return result;
}

/* The Event object: its System first, then EventData and UserData in their order, as the
 * general path reads them; its namespace attributes are skipped, and so is a null section. */
static PyObject *read_event(Cursor *c, System *s) {
    PyObject *out = NULL;
    int seen_namespace = 0, seen_data = 0, seen_user = 0;
    if (!take(c, '{')) {
        return NULL;
    }
    do {
        const unsigned char *k;
        Py_ssize_t n;
        if (member_name(c, &k, &n) != OK) {
            goto fail;
        }
        if (key_is(k, n, "#attributes") && !seen_namespace) {
            seen_namespace = 1;
            if (skip_value(c, 0) != OK) {
                goto fail;
            }
        } else if (key_is(k, n, "System") && out == NULL) {
            if (read_system(c, s) != OK || (out = system_fields(s)) == NULL) {
                goto fail;
            }
        } else if (out == NULL) {
            goto fail; /* a section before System */
        } else if (key_is(k, n, "EventData") && !seen_data++) {
            if (read_event_data(c, out, s) != OK) {
                goto fail;
            }
        } else if (key_is(k, n, "UserData") && !seen_user++) {
            if (!take_word(c, "null", 4) && read_leaves(c, out, K_UserData, 0) != OK) {
                goto fail;
            }
        } else if (key_is(k, n, "System") || key_is(k, n, "EventData") ||
                   key_is(k, n, "UserData") || !valid_name(k, n) || !take_word(c, "null", 4)) {
            goto fail; /* a duplicate section, or another section that is not null */
        }
    } while (take(c, ','));
    if (!take(c, '}') || out == NULL) {
        goto fail;
    }
    return out;
fail:
    Py_XDECREF(out);
    return NULL;
}

/* One record's text to its fields (a new dict) and timestamp; NULL, with no error set, when it
 * is not the usual shape. */
static PyObject *decode_text(const unsigned char *data, Py_ssize_t size, double *ts, int *has_ts) {
    Cursor c = {data, data + size};
    System s;
    memset(&s, 0, sizeof(s));
    PyObject *fields = NULL;
    const unsigned char *k;
    Py_ssize_t n;
    if (take(&c, '{') && member_name(&c, &k, &n) == OK && key_is(k, n, "Event")) {
        fields = read_event(&c, &s);
        int closed = take(&c, '}');
        skip_space(&c);
        if (!closed || c.p != c.end) {
            Py_CLEAR(fields); /* not one whole JSON object */
        }
    }
    *ts = s.ts;
    *has_ts = s.has_ts;
    system_clear(&s);
    PyErr_Clear();
    return fields;
}

static PyObject *decode_usual(PyObject *module, PyObject *arg) {
    (void)module;
    const char *data;
    Py_ssize_t size;
    Py_buffer view = {0};
    int has_view = 0;
    if (PyUnicode_Check(arg)) {
        data = PyUnicode_AsUTF8AndSize(arg, &size);
        if (data == NULL) {
            PyErr_Clear();
            Py_RETURN_NONE; /* a lone surrogate: the Python paths report it */
        }
    } else {
        if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) != 0) {
            return NULL; /* not text at all: a caller's mistake, raised as TypeError */
        }
        has_view = 1;
        data = view.buf;
        size = view.len;
    }
    double ts;
    int has_ts;
    PyObject *fields = decode_text((const unsigned char *)data, size, &ts, &has_ts);
    PyObject *result = NULL;
    if (fields != NULL) {
        PyObject *stamp = has_ts ? PyFloat_FromDouble(ts) : Py_NewRef(Py_None);
        if (stamp != NULL) {
            result = PyTuple_Pack(2, fields, stamp);
            Py_DECREF(stamp);
        }
        Py_DECREF(fields);
    }
    if (has_view) {
        PyBuffer_Release(&view);
    }
    if (result == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return result;
}

static uint64_t little_endian(const unsigned char *p, int width) {
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; i--) {
        value = value << 8 | p[i];
    }
    return value;
}

/* The events of one record frame of the EVTX worker (``R``: count u32, record ids i64 each,
 * UTF-8 sizes u32 each, then the texts; see evtx_worker.py), made by calling
 * ``make_event(fields, timestamp, source, record, text, flags)``. Returns (events, leftovers):
 * a record decoded here is its event; one that is not (another shape, or a SystemTime Python
 * must read) is None in ``events`` and (index, record id, text) in ``leftovers``, for the
 * Python paths. With ``keep_raw`` false, an event's text is None: no copy of it is made (a
 * leftover still gets its text). ValueError when the frame's count and sizes do not add up. */
static PyObject *decode_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "decode_frame(payload, source, make_event, no_flags, keep_raw=True)");
        return NULL;
    }
    PyObject *source = args[1], *make_event = args[2], *no_flags = args[3];
    int keep_raw = 1;
    if (nargs == 5) {
        keep_raw = PyObject_IsTrue(args[4]);
        if (keep_raw < 0) {
            return NULL;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    const unsigned char *data = view.buf;
    uint64_t size = (uint64_t)view.len;
    PyObject *events = NULL, *leftovers = NULL, *result = NULL;
    uint64_t count = size >= 4 ? little_endian(data, 4) : 0;
    uint64_t at = 4 + 12 * count; /* at most 4 + 12 * (2**32 - 1): no overflow */
    if (size < 4 || at > size) {
        PyErr_Format(PyExc_ValueError, "%llu records announced in a frame of %llu bytes",
                     (unsigned long long)count, (unsigned long long)size);
        goto done;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < count; i++) {
        total += little_endian(data + 4 + 8 * count + 4 * i, 4);
    }
    if (total != size - at) {
        PyErr_Format(PyExc_ValueError, "record sizes add up to %llu of %llu bytes",
                     (unsigned long long)total, (unsigned long long)(size - at));
        goto done;
    }
    events = PyList_New((Py_ssize_t)count);
    leftovers = PyList_New(0);
    if (events == NULL || leftovers == NULL) {
        goto done;
    }
    for (uint64_t i = 0; i < count; i++) {
        Py_ssize_t length = (Py_ssize_t)little_endian(data + 4 + 8 * count + 4 * i, 4);
        int64_t header_id = (int64_t)little_endian(data + 4 + 8 * i, 8);
        const char *start = (const char *)data + at;
        double ts;
        int has_ts;
        PyObject *fields = decode_text(data + at, length, &ts, &has_ts);
        at += (uint64_t)length;
        /* The text for the event (when kept) or for the Python paths (a leftover). */
        int decoded = fields != NULL && has_ts;
        PyObject *text = decoded && !keep_raw ? Py_NewRef(Py_None)
                                              : PyBytes_FromStringAndSize(start, length);
        if (text == NULL) {
            Py_XDECREF(fields);
            goto done;
        }
        PyObject *event = NULL;
        if (decoded) {
            /* The System EventRecordID names the record (exported logs renumber the record
             * headers, so the header's id is only the fallback), as in evtx.py. */
            PyObject *record = PyDict_GetItemWithError(fields, K_EventRecordID);
            PyObject *stamp = PyFloat_FromDouble(ts);
            record = record != NULL && PyLong_CheckExact(record) ? Py_NewRef(record)
                                                                 : PyLong_FromLongLong(header_id);
            if (stamp != NULL && record != NULL) {
                PyObject *call[] = {fields, stamp, source, record, text, no_flags};
                event = PyObject_Vectorcall(make_event, call, 6, NULL);
            }
            Py_XDECREF(stamp);
            Py_XDECREF(record);
            Py_DECREF(fields);
            if (event == NULL) {
                Py_DECREF(text);
                goto done;
            }
        } else {
            Py_XDECREF(fields);
            PyObject *left = Py_BuildValue("(nLN)", (Py_ssize_t)i, (long long)header_id, text);
            text = NULL; /* the tuple holds it now */
            if (left == NULL || PyList_Append(leftovers, left) != 0) {
                Py_XDECREF(left);
                goto done;
            }
            Py_DECREF(left);
            event = Py_NewRef(Py_None);
        }
        Py_XDECREF(text);
        PyList_SET_ITEM(events, (Py_ssize_t)i, event);
    }
    result = PyTuple_Pack(2, events, leftovers);
done:
    Py_XDECREF(events);
    Py_XDECREF(leftovers);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_usual", decode_usual, METH_O,
     "decode_usual(text) -> (fields, timestamp or None) for the usual EVTX record shape, "
     "None for any other (see sentinelle.readers.evtx_records)."},
    {"decode_frame", (PyCFunction)(void (*)(void))decode_frame, METH_FASTCALL,
     "decode_frame(payload, source, make_event, no_flags, keep_raw=True) -> (events, leftovers) "
     "for one record frame of the EVTX worker (see sentinelle.readers.evtx)."},
    {NULL, NULL, 0, NULL},
};

static int intern_names(void) {
    struct {
        PyObject **slot;
        const char *name;
    } names[] = {
        {&K_EventID, "EventID"},
        {&K_Qualifiers, "Qualifiers"},
        {&K_Version, "Version"},
        {&K_Level, "Level"},
        {&K_Task, "Task"},
        {&K_Opcode, "Opcode"},
        {&K_Keywords, "Keywords"},
        {&K_EventRecordID, "EventRecordID"},
        {&K_Channel, "Channel"},
        {&K_Computer, "Computer"},
        {&K_Provider_Name, "Provider_Name"},
        {&K_Provider_Guid, "Provider_Guid"},
        {&K_Provider_EventSourceName, "Provider_EventSourceName"},
        {&K_SystemTime, "SystemTime"},
        {&K_ProcessID, "ProcessID"},
        {&K_ThreadID, "ThreadID"},
        {&K_UserID, "UserID"},
        {&K_ActivityID, "ActivityID"},
        {&K_RelatedActivityID, "RelatedActivityID"},
        {&K_Data, "Data"},
        {&K_attributes, "#attributes"},
        {&K_UserData, "UserData"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL) {
            *names[i].slot = PyUnicode_InternFromString(names[i].name);
            if (*names[i].slot == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_evtxjson",
    "The usual EVTX record's JSON to Sigma-native fields in one pass (optional accelerator).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

/* The calling convention of this module's functions, checked by evtx_records before it uses
 * them: a module built from an older source (an editable install not rebuilt after a pull)
 * is then left unused instead of failing every EVTX file. Raised whenever a signature changes
 * (2: decode_frame's keep_raw). */
#define ACCELERATOR_ABI 2

PyMODINIT_FUNC PyInit__evtxjson(void) {
    if (intern_names() != 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddIntConstant(module, "ABI", ACCELERATOR_ABI) != 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

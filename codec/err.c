#include "codec/err.h"

const char *kg_strerror(int err)
{
    switch (err) {
    case KG_OK:
        return "success";
#define KG_ERR_TEXT(name, code, text) \
    case KG_ERR_##name:               \
        return text;
        KG_ERR_MAP(KG_ERR_TEXT)
#undef KG_ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *kg_errname(int err)
{
    switch (err) {
    case KG_OK:
        return "OK";
#define KG_ERR_NAME(name, code, text) \
    case KG_ERR_##name:               \
        return #name;
        KG_ERR_MAP(KG_ERR_NAME)
#undef KG_ERR_NAME
    default:
        return "UNKNOWN";
    }
}

/*
 * tm_bm25(): FTS5's bm25() with each phrase's document count given by the caller.
 *
 * FTS5's bm25() computes each phrase's IDF by counting every row that holds the phrase, in every
 * statement: a query whose terms hold 200k rows reads 200k postings before it scores one. The
 * daemon already knows those counts (informative-terms.ts caches them per term), so
 *
 *   tm_bm25(memories_fts, '12 40031 7', w0, w1, ...)
 *
 * takes them as a list of integers, one per phrase in the order the MATCH expression names them,
 * and scores exactly as bm25(memories_fts, w0, w1, ...) does with those counts (same k1, b,
 * average length from the index's totals, IDF floor). A phrase with no count given (a shorter
 * list, or not a number) is counted as bm25() counts it. Built as a loadable extension by
 * daemon/native/build.ts; without it the daemon ranks with bm25().
 *
 * tm_token(text, tokenizer, arg...): the one token FTS5's tokenizer (as `tokenize = '...'` names
 * it, one word per argument) makes of text, or NULL when it makes none or several. The daemon
 * keeps common tokens' document counts (term-stats.ts) and looks a query's words up by it.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int nPhrase;
  double avgdl;
  double *aIDF;
  double *aFreq;
  /* The statement's best scores so far (a min-heap of nBest, at most nLimit). */
  int nLimit;
  int nBest;
  double *aBest;
  /* Per row: each column's smallest possible size (its last matched token's offset + 1). */
  int nCol;
  int *aColMin;
} TmBm25Data;

/* Keeps score among the nLimit best seen: the heap's root is the smallest of them. */
static void tmKeep(TmBm25Data *p, double score) {
  double *h = p->aBest;
  int i;
  if (p->nBest < p->nLimit) {
    i = p->nBest++;
    while (i > 0 && h[(i - 1) / 2] > score) {
      h[i] = h[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    h[i] = score;
    return;
  }
  if (score <= h[0]) return;
  i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= p->nBest) break;
    if (c + 1 < p->nBest && h[c + 1] < h[c]) c++;
    if (h[c] >= score) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = score;
}

static int tmCountCb(const Fts5ExtensionApi *pApi, Fts5Context *pFts, void *pUserData) {
  (void)pApi;
  (void)pFts;
  (*(sqlite3_int64 *)pUserData)++;
  return SQLITE_OK;
}

/* The statement's averages and IDFs, computed on its first row and kept as its auxdata. */
static int tmBm25Data(const Fts5ExtensionApi *pApi, Fts5Context *pFts, sqlite3_value *pHits,
                      sqlite3_value *pLimit, TmBm25Data **ppData) {
  TmBm25Data *p = (TmBm25Data *)pApi->xGetAuxdata(pFts, 0);
  int rc = SQLITE_OK;
  if (p == 0) {
    int nPhrase = pApi->xPhraseCount(pFts);
    int nCol = pApi->xColumnCount(pFts);
    sqlite3_int64 limit = sqlite3_value_int64(pLimit);
    int nLimit = limit > 0 && limit <= 100000 ? (int)limit : 0;
    sqlite3_int64 nRow = 0, nToken = 0;
    sqlite3_int64 nByte = sizeof(TmBm25Data) + ((sqlite3_int64)nPhrase * 2 + nLimit) * sizeof(double) +
                          (sqlite3_int64)nCol * sizeof(int);
    const char *zHits = (const char *)sqlite3_value_text(pHits);
    p = (TmBm25Data *)sqlite3_malloc64(nByte);
    if (p == 0) return SQLITE_NOMEM;
    memset(p, 0, (size_t)nByte);
    p->nPhrase = nPhrase;
    p->aIDF = (double *)&p[1];
    p->aFreq = &p->aIDF[nPhrase];
    p->nLimit = nLimit;
    p->aBest = &p->aFreq[nPhrase];
    p->nCol = nCol;
    p->aColMin = (int *)&p->aBest[nLimit];
    rc = pApi->xRowCount(pFts, &nRow);
    if (rc == SQLITE_OK) rc = pApi->xColumnTotalSize(pFts, -1, &nToken);
    if (rc == SQLITE_OK) p->avgdl = (double)nToken / (double)nRow;
    for (int i = 0; rc == SQLITE_OK && i < nPhrase; i++) {
      sqlite3_int64 nHit = -1;
      if (zHits) {
        char *zEnd = 0;
        long long n = strtoll(zHits, &zEnd, 10);
        if (zEnd != zHits && n >= 0) nHit = n;
        zHits = zEnd != zHits ? zEnd : 0;
      }
      if (nHit < 0) {
        nHit = 0;
        rc = pApi->xQueryPhrase(pFts, i, (void *)&nHit, tmCountCb);
      }
      if (rc == SQLITE_OK) {
        double idf = log(((double)nRow - (double)nHit + 0.5) / ((double)nHit + 0.5));
        p->aIDF[i] = idf <= 0.0 ? 1e-6 : idf;
      }
    }
    if (rc == SQLITE_OK) rc = pApi->xSetAuxdata(pFts, p, sqlite3_free);
    else sqlite3_free(p);
    if (rc != SQLITE_OK) p = 0;
  }
  *ppData = p;
  return rc;
}

/* The row's score for a document of D tokens, from the frequencies in aFreq. */
static double tmScore(const TmBm25Data *p, double D) {
  const double k1 = 1.2, b = 0.75;
  double score = 0.0;
  for (int i = 0; i < p->nPhrase; i++) {
    double f = p->aFreq[i];
    score += p->aIDF[i] * ((f * (k1 + 1.0)) / (f + k1 * (1 - b + b * D / p->avgdl)));
  }
  return score;
}

static void tmBm25(const Fts5ExtensionApi *pApi, Fts5Context *pFts, sqlite3_context *pCtx, int nVal,
                   sqlite3_value **apVal) {
  TmBm25Data *p = 0;
  double score;
  int nInst = 0, rc, nTok = 0, nWeight = nVal - 2;
  if (nVal < 2) {
    sqlite3_result_error(pCtx, "tm_bm25(table, counts, limit, weights...): too few arguments", -1);
    return;
  }
  rc = tmBm25Data(pApi, pFts, apVal[0], apVal[1], &p);
  if (rc == SQLITE_OK) {
    memset(p->aFreq, 0, sizeof(double) * p->nPhrase);
    memset(p->aColMin, 0, sizeof(int) * p->nCol);
    rc = pApi->xInstCount(pFts, &nInst);
  }
  for (int i = 0; rc == SQLITE_OK && i < nInst; i++) {
    int ip, ic, io;
    rc = pApi->xInst(pFts, i, &ip, &ic, &io);
    if (rc != SQLITE_OK) break;
    p->aFreq[ip] += (nWeight > ic) ? sqlite3_value_double(apVal[ic + 2]) : 1.0;
    if (ic < p->nCol && io + 1 > p->aColMin[ic]) p->aColMin[ic] = io + 1;
  }
  if (rc == SQLITE_OK && p->nBest == p->nLimit && p->nLimit > 0) {
    /* The row's size (a lookup per row, most of the scoring's cost) only where the score it
     * could reach at its smallest possible size beats the limit-th best so far: a row that
     * cannot is out of the top anyway, and gets 0. */
    int smallest = 0;
    for (int c = 0; c < p->nCol; c++) smallest += p->aColMin[c];
    if (tmScore(p, (double)smallest) < p->aBest[0]) {
      sqlite3_result_double(pCtx, 0.0);
      return;
    }
  }
  if (rc == SQLITE_OK) rc = pApi->xColumnSize(pFts, -1, &nTok);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(pCtx, rc);
    return;
  }
  score = tmScore(p, (double)nTok);
  if (p->nLimit > 0) tmKeep(p, score);
  sqlite3_result_double(pCtx, -1.0 * score);
}

/* A tokenizer tm_token created, kept as the statement's auxdata for its next rows. */
typedef struct {
  fts5_tokenizer api;
  Fts5Tokenizer *tok;
} TmTokenizer;

typedef struct {
  int n;
  char *z;
  int nz;
} TmTokens;

static void tmTokenizerFree(void *pArg) {
  TmTokenizer *t = (TmTokenizer *)pArg;
  if (t->tok) t->api.xDelete(t->tok);
  sqlite3_free(t);
}

static int tmTokenCb(void *pCtx, int tflags, const char *pToken, int nToken, int iStart, int iEnd) {
  TmTokens *o = (TmTokens *)pCtx;
  (void)iStart;
  (void)iEnd;
  if (tflags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
  if (++o->n > 1) return SQLITE_DONE; /* several: the answer is NULL, no need to go on */
  o->z = sqlite3_malloc(nToken + 1);
  if (o->z == 0) return SQLITE_NOMEM;
  memcpy(o->z, pToken, nToken);
  o->z[nToken] = 0;
  o->nz = nToken;
  return SQLITE_OK;
}

/* The tokenizer named by argv[1..]: created on the statement's first row. */
static TmTokenizer *tmTokenizer(sqlite3_context *pCtx, int argc, sqlite3_value **argv) {
  fts5_api *fts5 = (fts5_api *)sqlite3_user_data(pCtx);
  TmTokenizer *t = (TmTokenizer *)sqlite3_get_auxdata(pCtx, 1);
  const char *azArg[16];
  void *pUserData = 0;
  int nArg = argc - 2;
  if (t) return t;
  if (nArg > 16) {
    sqlite3_result_error(pCtx, "tm_token: at most 16 tokenizer arguments", -1);
    return 0;
  }
  for (int i = 0; i < nArg; i++) {
    azArg[i] = (const char *)sqlite3_value_text(argv[i + 2]);
    if (azArg[i] == 0) {
      sqlite3_result_error(pCtx, "tm_token: a tokenizer argument is NULL", -1);
      return 0;
    }
  }
  if (sqlite3_value_text(argv[1]) == 0) {
    sqlite3_result_error(pCtx, "tm_token: the tokenizer's name is NULL", -1);
    return 0;
  }
  t = (TmTokenizer *)sqlite3_malloc(sizeof(TmTokenizer));
  if (t == 0) {
    sqlite3_result_error_nomem(pCtx);
    return 0;
  }
  t->tok = 0;
  if (fts5->xFindTokenizer(fts5, (const char *)sqlite3_value_text(argv[1]), &pUserData, &t->api) != SQLITE_OK ||
      t->api.xCreate(pUserData, azArg, nArg, &t->tok) != SQLITE_OK) {
    t->tok = 0;
    tmTokenizerFree(t);
    sqlite3_result_error(pCtx, "tm_token: no such tokenizer, or bad arguments", -1);
    return 0;
  }
  /* Kept while the statement's tokenizer arguments stay the same constants; SQLite frees it
   * at once (and tm_token fails) when they are not constants. */
  sqlite3_set_auxdata(pCtx, 1, t, tmTokenizerFree);
  t = (TmTokenizer *)sqlite3_get_auxdata(pCtx, 1);
  if (t == 0) sqlite3_result_error(pCtx, "tm_token: the tokenizer arguments must be constants", -1);
  return t;
}

static void tmToken(sqlite3_context *pCtx, int argc, sqlite3_value **argv) {
  TmTokenizer *t;
  TmTokens o = {0, 0, 0};
  const char *text;
  int rc;
  if (argc < 2) {
    sqlite3_result_error(pCtx, "tm_token(text, tokenizer, arg...)", -1);
    return;
  }
  text = (const char *)sqlite3_value_text(argv[0]);
  if (text == 0) return; /* NULL */
  t = tmTokenizer(pCtx, argc, argv);
  if (t == 0) return;
  rc = t->api.xTokenize(t->tok, (void *)&o, FTS5_TOKENIZE_QUERY, text, sqlite3_value_bytes(argv[0]), tmTokenCb);
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    sqlite3_free(o.z);
    sqlite3_result_error_code(pCtx, rc);
  } else if (o.n == 1) {
    sqlite3_result_text(pCtx, o.z, o.nz, sqlite3_free);
  } else {
    sqlite3_free(o.z);
    sqlite3_result_null(pCtx);
  }
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_tmfts_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  fts5_api *fts5 = 0;
  sqlite3_stmt *stmt = 0;
  SQLITE_EXTENSION_INIT2(pApi);
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, 0) == SQLITE_OK) {
    sqlite3_bind_pointer(stmt, 1, (void *)&fts5, "fts5_api_ptr", 0);
    sqlite3_step(stmt);
  }
  sqlite3_finalize(stmt);
  if (fts5 == 0 || fts5->iVersion < 2) {
    *pzErrMsg = sqlite3_mprintf("tm_bm25 needs FTS5");
    return SQLITE_ERROR;
  }
  int rc = fts5->xCreateFunction(fts5, "tm_bm25", 0, tmBm25, 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(db, "tm_token", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                    (void *)fts5, tmToken, 0, 0, 0);
  return rc;
}

// llama-dry-run: what llama-server would allocate for a model and its arguments, without allocating
// it. It parses llama-server's own arguments with llama.cpp's parser (common_params_parse, so every
// flag means what it means to llama-server), applies llama-server's defaults (no -np: 4 slots and a
// unified KV cache), then loads the model and creates the context the way llama.cpp's --fit probes
// memory (no_alloc, no mmap): every buffer is sized, none is allocated, no tensor data is read.
// --fit itself is not run: the settings given are sized as given.
//
// Usage: llama-dry-run --backends DIR [llama-server arguments ...]
//   DIR: the folder of the ggml backend libraries to load (ggml_backend_load_all_from_path).
// Prints one JSON object on stdout (the last line); llama.cpp's log goes to stderr.
//
// The object: per buffer type (one per device, and the host's), the model weights, the KV cache,
// the recurrent state and the compute buffer llama.cpp reserves there; the output buffer; each
// layer's device (the output layer as layer n_layer); the settings as llama.cpp resolved them (context, sequences, flash attention);
// and with --mmproj, the projector's weights and warm-up compute buffer per device, sized the way
// llama-server's --fit sizes them (clip_init with no_alloc, as mtmd_get_memory_usage does).
// With --spec-type draft-mtp, the multi-token-prediction draft context llama-server creates against
// the same model (common_speculative_init_result: an MTP context of the main context's n_ctx): its
// KV cache and compute buffer per buffer type, as "draft".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "arg.h"
#include "common.h"
#include "ggml-backend.h"
#include "llama.h"
#include "llama-ext.h"
#include "llama-kv-cache-iswa.h"
#include "llama-kv-cache.h"
#include "llama-memory-hybrid.h"
#include "llama-memory-recurrent.h"
#include "clip.h"
#include "mtmd.h"
#include "speculative.h"

namespace {

std::mutex log_mutex;
std::vector<std::string> log_lines;
std::string log_partial;

void on_log(enum ggml_log_level level, const char * text, void *) {
    std::lock_guard<std::mutex> lock(log_mutex);
    if (level != GGML_LOG_LEVEL_DEBUG) fputs(text, stderr);
    log_partial += text;
    size_t nl;
    while ((nl = log_partial.find('\n')) != std::string::npos) {
        log_lines.push_back(log_partial.substr(0, nl));
        log_partial.erase(0, nl + 1);
    }
}

std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') { out += '\\'; out += c; }
        else if ((unsigned char) c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); out += b; }
        else out += c;
    }
    return out + "\"";
}

struct Parts {
    size_t weights = 0, kv = 0, recurrent = 0, compute = 0;
};

void add_breakdown(std::map<std::string, Parts> & parts, const std::map<ggml_backend_buffer_type_t, size_t> & mb, size_t Parts::*field) {
    for (const auto & [buft, size] : mb) parts[ggml_backend_buft_name(buft)].*field += size;
}

// Splits the context memory into KV cache and recurrent state, per buffer type.
void memory_parts(llama_memory_i * mem, std::map<std::string, Parts> & parts) {
    if (!mem) return;
    if (auto * hybrid = dynamic_cast<llama_memory_hybrid *>(mem)) {
        add_breakdown(parts, hybrid->get_mem_attn()->memory_breakdown(), &Parts::kv);
        add_breakdown(parts, hybrid->get_mem_recr()->memory_breakdown(), &Parts::recurrent);
    } else if (dynamic_cast<llama_memory_recurrent *>(mem)) {
        add_breakdown(parts, mem->memory_breakdown(), &Parts::recurrent);
    } else {
        add_breakdown(parts, mem->memory_breakdown(), &Parts::kv);
    }
}

// The projector's memory per device: clip_get_mem_usage gives weights + compute, the log of the
// last graph reservation the compute part ("reserve_compute_meta: <buft> compute buffer size = ...").
std::string projector_json(const common_params & params, size_t log_from) {
    clip_context_params cp{};
    cp.use_gpu = params.mmproj_use_gpu;
    cp.device = params.mmproj_device;
    cp.flash_attn_type = (clip_flash_attn_type) params.flash_attn_type;
    cp.image_min_tokens = params.image_min_tokens;
    cp.image_max_tokens = params.image_max_tokens;
    cp.warmup = params.warmup;
    cp.no_alloc = true;
    clip_init_result res = clip_init(params.mmproj.path.c_str(), cp);
    if (!res.ctx_v && !res.ctx_a) throw std::runtime_error("the projector did not load");
    std::map<std::string, size_t> total;
    for (clip_ctx * c : {res.ctx_v, res.ctx_a}) {
        if (!c) continue;
        for (const auto & [dev, size] : clip_get_mem_usage(c)) total[ggml_backend_dev_name(dev)] += size;
    }
    std::map<std::string, size_t> compute, block;
    {
        std::lock_guard<std::mutex> lock(log_mutex);
        const std::regex compute_re(R"((?:alloc|reserve)_compute_meta: +(\S+) compute buffer size = +([0-9.]+) MiB)");
        std::smatch m;
        for (size_t i = log_from; i < log_lines.size(); i++) {
            const auto & line = log_lines[i];
            if (std::regex_search(line, m, compute_re)) block[m[1]] += (size_t) (std::stod(m[2]) * 1024 * 1024 + 0.5);
            else if (line.find("_compute_meta: graph splits") != std::string::npos) {
                compute = block;
                block.clear();
            }
        }
    }
    for (clip_ctx * c : {res.ctx_v, res.ctx_a, res.ctx_gen_a})
        if (c) clip_free(c);
    std::string out = "{\"buffers\":[";
    bool first = true;
    for (const auto & [name, size] : total) {
        // The log prints the compute buffer to 0.01 MiB: a rest below that is rounding, not weights.
        size_t comp = std::min(size, compute.count(name) ? compute[name] : (size_t) 0);
        if (size - comp < 10486) comp = size;
        if (!first) out += ",";
        first = false;
        out += "{\"name\":" + json_string(name) + ",\"weights\":" + std::to_string(size - comp) + ",\"compute\":" + std::to_string(comp) + "}";
    }
    return out + "]}";
}

}  // namespace

int main(int argc, char ** argv) {
    std::string backends;
    std::vector<char *> args = {argv[0]};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backends") == 0 && i + 1 < argc) backends = argv[++i];
        else args.push_back(argv[i]);
    }
    if (backends.empty()) {
        fprintf(stderr, "usage: %s --backends DIR [llama-server arguments ...]\n", argv[0]);
        return 2;
    }
    llama_log_set(on_log, nullptr);
    ggml_backend_load_all_from_path(backends.c_str());
    llama_backend_init();

    common_params params;
    if (!common_params_parse((int) args.size(), args.data(), params, LLAMA_EXAMPLE_SERVER)) return 2;
    llama_log_set(on_log, nullptr);
    mtmd_log_set(on_log, nullptr);
    // llama-server's own defaults (tools/server/server.cpp).
    if (params.embedding && params.n_batch > params.n_ubatch) params.n_batch = params.n_ubatch;
    if (params.n_parallel < 0) {
        params.n_parallel = 4;
        params.kv_unified = true;
    }
    if (params.kv_unified_per_slot > 0 && params.n_ctx == 0) params.n_ctx = params.n_parallel * params.kv_unified_per_slot;
    // The output rows llama-server reserves (tools/server/server-context.cpp server_output_limits): one
    // per slot and per draft token, not a row for every token of a micro-batch.
    if (params.embedding || (params.pooling_type != LLAMA_POOLING_TYPE_UNSPECIFIED && params.pooling_type != LLAMA_POOLING_TYPE_NONE)) {
        params.n_outputs_max = params.n_batch;
        params.n_outputs_max_per_seq = 1;
    } else {
        const auto limits = common_speculative_get_output_limits(params.n_batch, params.n_parallel, common_speculative_n_max(&params.speculative));
        params.n_outputs_max = std::max<int32_t>(1, limits.total);
        params.n_outputs_max_per_seq = std::max<int32_t>(1, limits.per_seq);
    }

    llama_model_params mparams = common_model_params_to_llama(params);
    mparams.no_alloc = true;
    mparams.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_context_params cparams = common_context_params_to_llama(params);

    llama_model * model = llama_model_load_from_file(params.model.path.c_str(), mparams);
    if (!model) {
        fprintf(stderr, "llama-dry-run: the model did not load\n");
        return 1;
    }
    llama_context * ctx = llama_init_from_model(model, cparams);
    if (!ctx) {
        fprintf(stderr, "llama-dry-run: the context was not created\n");
        llama_model_free(model);
        return 1;
    }

    std::map<std::string, Parts> parts;
    std::map<std::string, bool> host;
    for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
        auto & p = parts[ggml_backend_buft_name(buft)];
        p.weights += mb.model;
        p.compute += mb.compute;
        host[ggml_backend_buft_name(buft)] = ggml_backend_buft_is_host(buft);
    }
    memory_parts(llama_get_memory(ctx), parts);

    // What only the log says: the output buffer, the layers' devices, flash attention as resolved.
    size_t output_bytes = 0;
    std::string flash_attn = cparams.flash_attn_type == LLAMA_FLASH_ATTN_TYPE_ENABLED ? "on" : cparams.flash_attn_type == LLAMA_FLASH_ATTN_TYPE_DISABLED ? "off" : "auto";
    std::map<int, std::string> layer_device;
    const std::regex output_re(R"(output buffer size = +([0-9.]+) MiB)");
    // load_tensors' placement of each layer (the layer after the last is the output layer).
    const std::regex layer_re(R"(load_tensors: layer +([0-9]+) assigned to device ([^,\s]+))");
    const std::regex fa_on_re(R"(Flash Attention enabled)");
    const std::regex fa_off_re(R"(Flash Attention not supported)");
    {
        std::lock_guard<std::mutex> lock(log_mutex);
        std::smatch m;
        for (const auto & line : log_lines) {
            if (std::regex_search(line, m, output_re)) output_bytes = (size_t) (std::stod(m[1]) * 1024 * 1024 + 0.5);
            else if (std::regex_search(line, m, layer_re)) layer_device[std::stoi(m[1])] = m[2];
            else if (std::regex_search(line, fa_on_re)) flash_attn = "on";
            else if (std::regex_search(line, fa_off_re)) flash_attn = "off";
        }
    }

    std::string out = "{\"buffers\":[";
    bool first = true;
    for (const auto & [name, p] : parts) {
        if (!first) out += ",";
        first = false;
        char b[256];
        snprintf(b, sizeof b, ",\"host\":%s,\"weights\":%zu,\"kv\":%zu,\"recurrent\":%zu,\"compute\":%zu}", host[name] ? "true" : "false", p.weights, p.kv,
                 p.recurrent, p.compute);
        out += "{\"name\":" + json_string(name) + b;
    }
    out += "],\"layers\":[";
    first = true;
    for (const auto & [il, dev] : layer_device) {
        if (!first) out += ",";
        first = false;
        out += "{\"layer\":" + std::to_string(il) + ",\"device\":" + json_string(dev) + "}";
    }
    // The MTP draft context, as common_speculative_init_result creates it (common/speculative.cpp).
    const bool spec_mtp = std::find(params.speculative.types.begin(), params.speculative.types.end(), COMMON_SPECULATIVE_TYPE_DRAFT_MTP) !=
                          params.speculative.types.end();
    std::string draft = "null";
    if (spec_mtp) {
        common_params params_dft = common_base_params_to_speculative(params);
        llama_context_params cparams_dft = common_context_params_to_llama(params_dft);
        cparams_dft.ctx_type = LLAMA_CONTEXT_TYPE_MTP;
        cparams_dft.n_ctx = llama_n_ctx(ctx);
        cparams_dft.n_rs_seq = 0;
        cparams_dft.ctx_other = ctx;
        llama_context * ctx_dft = llama_init_from_model(model, cparams_dft);
        if (!ctx_dft) {
            fprintf(stderr, "llama-dry-run: the MTP draft context was not created\n");
            return 1;
        }
        std::map<std::string, Parts> dparts;
        std::map<std::string, bool> dhost;
        for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx_dft)) {
            dparts[ggml_backend_buft_name(buft)].compute += mb.compute;
            dhost[ggml_backend_buft_name(buft)] = ggml_backend_buft_is_host(buft);
        }
        memory_parts(llama_get_memory(ctx_dft), dparts);
        draft = "{\"contextTokens\":" + std::to_string(llama_n_ctx(ctx_dft)) + ",\"buffers\":[";
        bool dfirst = true;
        for (const auto & [name, p] : dparts) {
            if (!dfirst) draft += ",";
            dfirst = false;
            char b[256];
            snprintf(b, sizeof b, ",\"host\":%s,\"kv\":%zu,\"recurrent\":%zu,\"compute\":%zu}", dhost[name] ? "true" : "false", p.kv, p.recurrent, p.compute);
            draft += "{\"name\":" + json_string(name) + b;
        }
        draft += "]}";
        llama_free(ctx_dft);
    }

    std::string projector = "null";
    if (!params.mmproj.path.empty()) {
        size_t log_from;
        {
            std::lock_guard<std::mutex> lock(log_mutex);
            log_from = log_lines.size();
        }
        try {
            projector = projector_json(params, log_from);
        } catch (const std::exception & e) {
            fprintf(stderr, "llama-dry-run: the projector: %s\n", e.what());
            return 1;
        }
    }
    out += "],\"projector\":" + projector + ",\"draft\":" + draft;
    char b[512];
    snprintf(b, sizeof b,
             ",\"outputBytes\":%zu,\"settings\":{\"contextTokens\":%u,\"sequences\":%u,\"kvUnified\":%s,\"ubatchTokens\":%u,\"batchTokens\":%u,\"flashAttention\":\"%s\",\"cacheTypeK\":\"%s\",\"cacheTypeV\":\"%s\",\"gpuLayers\":%d,\"layers\":%d}}",
             output_bytes, llama_n_ctx(ctx), llama_n_seq_max(ctx), params.kv_unified ? "true" : "false", llama_n_ubatch(ctx), llama_n_batch(ctx), flash_attn.c_str(),
             ggml_type_name(cparams.type_k), ggml_type_name(cparams.type_v), mparams.n_gpu_layers, llama_model_n_layer(model));
    out += b;
    printf("%s\n", out.c_str());
    fflush(stdout);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}

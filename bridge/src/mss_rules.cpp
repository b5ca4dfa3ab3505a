#include "l2wg/bridge/mss_rules.h"

#include <nftables/libnftables.h>

#include <nlohmann/json.hpp>

#include "l2wg/bridge/mss_clamp.h"
#include "l2wg/error.h"

namespace l2wg::nft {
namespace {

using nlohmann::json;

json meta(const char* key, const std::string& value) {
  return {{"match", {{"op", "=="}, {"left", {{"meta", {{"key", key}}}}}, {"right", value}}}};
}

// "[FAMILY MATCH] tcp flags syn tcp option maxseg size > MSS tcp option maxseg size set MSS"
json clamp_rule(const std::string& family, const std::string& table, const std::string& chain,
                json interface, json protocol, uint32_t mss) {
  const json maxseg = {{"tcp option", {{"name", "maxseg"}, {"field", "size"}}}};
  return {{"add",
           {{"rule",
             {{"family", family},
              {"table", table},
              {"chain", chain},
              {"expr",
               {std::move(interface),
                std::move(protocol),
                {{"match",
                  {{"op", "in"},
                   {"left", {{"payload", {{"protocol", "tcp"}, {"field", "flags"}}}}},
                   {"right", "syn"}}}},
                {{"match", {{"op", ">"}, {"left", maxseg}, {"right", mss}}}},
                {{"mangle", {{"key", maxseg}, {"value", mss}}}}}}}}}}};
}

json table_command(const char* verb, const std::string& family, const std::string& table) {
  return {{verb, {{"table", {{"family", family}, {"name", table}}}}}};
}

}  // namespace

std::string table_name(const std::string& tap) {
  return "l2wg-mss-" + tap;
}

std::string install_commands(const MssClamp& clamp) {
  const std::string family = clamp.bridged ? "bridge" : "inet";
  const std::string table = table_name(clamp.tap);
  // Added, emptied by deleting it, and made again: one transaction, whatever was there before.
  json commands =
      json::array({table_command("add", family, table), table_command("delete", family, table),
                   table_command("add", family, table)});
  struct Hook {
    const char* chain;
    bool out;  // rules for SYNs leaving by the tap
    bool in;   // and entering by it
  };
  const std::vector<Hook> hooks =
      clamp.bridged ? std::vector<Hook>{{"forward", true, true}}
                    : std::vector<Hook>{
                          {"forward", true, true}, {"input", false, true}, {"output", true, false}};
  struct Protocol {
    json match;
    uint32_t mss;
  };
  const auto protocol = [&](bool v4) {
    const uint32_t mss =
        mss::mss_for(v4 ? IpAddress::Family::V4 : IpAddress::Family::V6, clamp.ip_mtu);
    if (clamp.bridged)
      return Protocol{{{"match",
                        {{"op", "=="},
                         {"left", {{"payload", {{"protocol", "ether"}, {"field", "type"}}}}},
                         {"right", v4 ? "ip" : "ip6"}}}},
                      mss};
    return Protocol{meta("nfproto", v4 ? "ipv4" : "ipv6"), mss};
  };
  for (const auto& hook : hooks) {
    commands.push_back({{"add",
                         {{"chain",
                           {{"family", family},
                            {"table", table},
                            {"name", hook.chain},
                            {"type", "filter"},
                            {"hook", hook.chain},
                            {"prio", clamp.bridged ? 0 : -150},  // inet: mangle
                            {"policy", "accept"}}}}}});
    for (const bool v4 : {true, false}) {
      const auto [match, mss] = protocol(v4);
      if (hook.out)
        commands.push_back(
            clamp_rule(family, table, hook.chain, meta("oifname", clamp.tap), match, mss));
      if (hook.in)
        commands.push_back(
            clamp_rule(family, table, hook.chain, meta("iifname", clamp.tap), match, mss));
    }
  }
  return json{{"nftables", commands}}.dump();
}

std::string remove_commands(const std::string& tap) {
  json commands = json::array();
  for (const char* family : {"bridge", "inet"}) {
    commands.push_back(table_command("add", family, table_name(tap)));
    commands.push_back(table_command("delete", family, table_name(tap)));
  }
  return json{{"nftables", commands}}.dump();
}

namespace {

class LibNftables final : public Nftables {
 public:
  LibNftables() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!ctx_) throw Error(ErrorCode::Kernel, "cannot start libnftables");
    // libnftables 1.0.6 reads JSON input only while its output is JSON too.
    nft_ctx_output_set_flags(ctx_.get(), NFT_CTX_OUTPUT_JSON);
    nft_ctx_buffer_output(ctx_.get());
    nft_ctx_buffer_error(ctx_.get());
  }
  void apply(const std::string& json_commands) override { run(json_commands); }
  std::string list_ruleset() override {
    nft_ctx_get_output_buffer(ctx_.get());  // drops what earlier commands left there
    run("list ruleset");
    return nft_ctx_get_output_buffer(ctx_.get());
  }

 private:
  void run(const std::string& commands) {
    if (nft_run_cmd_from_buffer(ctx_.get(), commands.c_str()) != 0) {
      std::string message = nft_ctx_get_error_buffer(ctx_.get());
      while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
        message.pop_back();
      throw Error(ErrorCode::Kernel, "nftables: " + (message.empty() ? "failed" : message));
    }
  }

  struct Free {
    void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
  };
  std::unique_ptr<nft_ctx, Free> ctx_;
};

}  // namespace

std::unique_ptr<Nftables> make_nftables() {
  return std::make_unique<LibNftables>();
}

}  // namespace l2wg::nft

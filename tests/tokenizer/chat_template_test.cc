// Chat templates and MMaDA prompt builders against the reference strings and ids of
// spec/prompting.md §4-5 and shared/tokenizer/SOURCE.md.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "model/config.h"
#include "model/special_tokens.h"
#include "tokenizer/prompts.h"
#include "tokenizer/tokenizer.h"
#include "test_util.h"
#include "tokenizer_test_data.h"

namespace mmada {
namespace {

using Ids = std::vector<int64_t>;

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ChatTemplate, MMaDAOneNewlineForm) {
  EXPECT_EQ(render_chat({{"user", "Hi"}}, ChatTemplateStyle::MMaDA),
            "<|startoftext|><|start_header_id|>user<|end_header_id|>\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n");
}

TEST(ChatTemplate, LLaDATwoNewlineForm) {
  EXPECT_EQ(render_chat({{"user", "What is 2+2?"}}, ChatTemplateStyle::LLaDA),
            "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, MultiTurnStripsContentAndAlwaysAddsGenerationHeader) {
  const std::vector<ChatMessage> chat = {
      {"system", "  Be brief.\n"}, {"user", "\t Hello \xE3\x80\x80"}, {"assistant", "Hi!\n\n"}, {"user", "More"}};
  EXPECT_EQ(render_chat(chat, ChatTemplateStyle::MMaDA),
            "<|startoftext|><|start_header_id|>system<|end_header_id|>\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\nHi!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\nMore<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n");
  EXPECT_EQ(render_chat({}, ChatTemplateStyle::LLaDA), "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, StripFollowsPythonIsspace) {
  EXPECT_EQ(strip_whitespace(" \t\n\r\v\f\x1c x y \xC2\xA0\xC2\x85"), "x y");
  EXPECT_EQ(strip_whitespace("\xE2\x80\x8Bx\xEF\xBB\xBF"), "\xE2\x80\x8Bx\xEF\xBB\xBF");  // ZWSP, BOM kept
  EXPECT_EQ(strip_whitespace("   "), "");
  EXPECT_EQ(strip_whitespace(""), "");
}

TEST(ChatTemplate, ThinkingPrefixText) {
  EXPECT_EQ(with_thinking_prefix("Why?"),
            "You should first think about the reasoning process in the mind and then provide the user with the "
            "answer. The reasoning process is enclosed within <think> </think> tags, i.e. <think> reasoning "
            "process here </think> answer here\nWhy?");
}

TEST(ChatTemplate, LLaDAPromptIds) {
  MMADA_REQUIRE_TOKENIZER(tok);
  EXPECT_EQ(render_chat_ids(*tok, {{"user", "What is 2+2?"}}, ChatTemplateStyle::LLaDA),
            (Ids{126080, 126346, 3840, 126347, 198, 198, 2372, 341, 220, 17, 10, 17, 30, 126348, 126346, 598, 10450,
                 126347, 198, 198}));
  EXPECT_EQ(detect_chat_template_style(tok->config()), ChatTemplateStyle::LLaDA);
}

TEST(ChatTemplate, MMaDAPromptIds) {
  MMADA_REQUIRE_TOKENIZER(tok);
  // SOURCE.md: the MMaDA-style string without BOS.
  EXPECT_EQ(tok->encode(render_chat({{"user", "Please describe this image in detail."}}, ChatTemplateStyle::MMaDA, "")),
            (Ids{126346, 3840, 126347, 198, 7775, 10173, 501, 3972, 296, 9278, 13, 126348, 126346, 598, 10450, 126347,
                 198}));
  // prompting.md §4.1: 126080, 126346, tok("user"), 126347, tok("\nHi"), 126348, 126346,
  // tok("assistant"), 126347, tok("\n").
  EXPECT_EQ(text_chat_prompt(*tok, {{"user", "Hi"}}),
            concat({{126080, 126346}, tok->encode("user"), {126347}, tok->encode("\nHi"), {126348, 126346},
                    tok->encode("assistant"), {126347}, tok->encode("\n")}));
  EXPECT_EQ(tok->encode("assistant"), (Ids{598, 10450}));
  EXPECT_EQ(text_chat_prompt(*tok, {{"user", "Hi"}}, 3), (Ids{126080, 126346, 3840}));
}

TEST(PromptBuilder, TaskTokensAreTheTokenizerReservedIds) {
  MMADA_REQUIRE_TOKENIZER(tok);
  using namespace mmada_tokens;
  EXPECT_EQ(tok->size(), size_t(kImageCodeOffset));
  EXPECT_EQ(tok->token_to_id("<|reserved_token_0|>"), kSoi);
  EXPECT_EQ(tok->token_to_id("<|reserved_token_5|>"), kMmu);
  EXPECT_EQ(tok->token_to_id("<|reserved_token_9|>"), kIPad);
  EXPECT_EQ(tok->token_to_id("<|mdm_mask|>"), kMask);
  EXPECT_EQ(kImageCodeOffset + kCodebookSize + 115, kVocabRows);
  // MMaDA's names are not tokenizer strings.
  const Ids soi = tok->encode("<|soi|>");
  EXPECT_TRUE(std::none_of(soi.begin(), soi.end(), [](int64_t id) { return id >= 126080; }));
}

// The LLaDA tokenizer with MMaDA's config.json gives exactly the constants of mmada_tokens.h,
// so the engine's ids for the released models do not change.
TEST(PromptBuilder, SpecialTokensOfTheLladaTokenizerAreMMaDAs) {
  MMADA_REQUIRE_TOKENIZER(tok);
  using namespace mmada_tokens;
  ModelConfig cfg;
  cfg.vocab = kVocabRows;
  const SpecialTokens t = SpecialTokens::from_model(cfg, *tok);
  const SpecialTokens d;
  EXPECT_EQ(t.bos, kSot);
  EXPECT_EQ(t.eos, kEot);
  EXPECT_EQ(t.pad, kEot);
  EXPECT_EQ(t.mask, kMask);
  EXPECT_EQ(t.start_header, kStartHeader);
  EXPECT_EQ(t.end_header, kEndHeader);
  EXPECT_EQ(t.eot_id, kEotId);
  EXPECT_EQ(t.soi, kSoi);
  EXPECT_EQ(t.eoi, kEoi);
  EXPECT_EQ(t.t2i, kT2i);
  EXPECT_EQ(t.mmu, kMmu);
  EXPECT_EQ(t.r2i, kR2i);
  EXPECT_EQ(t.ipad, kIPad);
  EXPECT_EQ(t.image_code_offset, kImageCodeOffset);
  EXPECT_EQ(t.codebook_size, kCodebookSize);
  EXPECT_EQ(t.vocab_rows, kVocabRows);
  EXPECT_EQ(d.start_header, t.start_header);  // the defaults are the same values
  EXPECT_EQ(d.image_code_offset, t.image_code_offset);
  // A config.json whose mask disagrees with the tokenizer's <|mdm_mask|> is refused.
  cfg.mask_token_id = 5;
  EXPECT_THROW(SpecialTokens::from_model(cfg, *tok), Error);
  // A vocabulary too small for MMaDA's ids names the token that does not fit.
  cfg.mask_token_id = kMask;
  cfg.vocab = 126340;
  const std::string err = test::error_of([&] { SpecialTokens::from_model(cfg, *tok); });
  EXPECT_NE(err.find("<|start_header_id|>"), std::string::npos) << err;
}

TEST(PromptBuilder, MmuFormats) {
  MMADA_REQUIRE_TOKENIZER(tok);
  using namespace mmada_tokens;
  const SpecialTokens tk = SpecialTokens::from_tokenizer(*tok);
  const Ids codes = {0, 5, 8191};
  const Ids prefix = {kMmu, kSoi, 126349, 126354, 134540, kEoi};
  const std::string q = "Please describe this image in detail.";

  EXPECT_EQ(mmu_prompt(*tok, tk, codes, q, MmuPromptFormat::AppDemo), concat({prefix, text_chat_prompt(*tok, {{"user", q}})}));
  EXPECT_EQ(mmu_prompt(*tok, tk, {}, q, MmuPromptFormat::AppDemo), text_chat_prompt(*tok, {{"user", q}}));

  const Ids b = mmu_prompt(*tok, tk, codes, "What is 2+2?", MmuPromptFormat::InferenceMmu);
  EXPECT_EQ(b, concat({prefix, {126080, 126346, 3840, 126347, 198, 198, 2372, 341, 220, 17, 10, 17, 30, 126348, 126346,
                                598, 10450, 126347, 198, 198}}));

  const Ids c = mmu_prompt(*tok, tk, codes, q, MmuPromptFormat::TrainingFormat);
  const Ids c_text = tok->encode("<|start_header_id|>user<|end_header_id|>\n" + q +
                                 "<eot_id><|start_header_id|>assistant<|end_header_id|>\n");
  EXPECT_EQ(c, concat({prefix, {kSot}, c_text}));
  EXPECT_EQ(std::count(c.begin(), c.end(), kSot), 1);
  EXPECT_EQ(std::count(c.begin(), c.end(), int64_t{126348}), 0);  // "<eot_id>" stays plain text
  EXPECT_EQ(c_text.front(), 126346);

  const Ids thinking = mmu_prompt(*tok, tk, codes, with_thinking_prefix("Why?"), MmuPromptFormat::AppDemo);
  EXPECT_EQ(thinking, concat({prefix, text_chat_prompt(*tok, {{"user", with_thinking_prefix("Why?")}})}));
}

TEST(PromptBuilder, RejectsBadImageCodes) {
  MMADA_REQUIRE_TOKENIZER(tok);
  const SpecialTokens tk = SpecialTokens::from_tokenizer(*tok);
  EXPECT_THROW(mmu_prompt(*tok, tk, Ids{8192}, "q", MmuPromptFormat::AppDemo), Error);
  EXPECT_THROW(mmu_prompt(*tok, tk, Ids{-1}, "q", MmuPromptFormat::AppDemo), Error);
  EXPECT_EQ(tk.image_id(8191), 134540);
}

}  // namespace
}  // namespace mmada

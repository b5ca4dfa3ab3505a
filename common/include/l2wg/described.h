// Records whose fields are described once (name and member), so that comparison, JSON and the
// D-Bus properties follow from one list: `static constexpr auto fields = std::tuple{field(...)}`.
#pragma once

#include <tuple>

namespace l2wg {

template <typename Record, typename T>
struct Field {
  const char* name;  // the JSON key (and, for a D-Bus record, the property's name)
  T Record::*member;
};

template <typename Record, typename T>
constexpr Field<Record, T> field(const char* name, T Record::*member) {
  return {name, member};
}

template <typename Record>
concept Described = requires {
  Record::fields;
};

template <Described Record, typename Visit>
constexpr void for_each_field(Visit&& visit) {
  std::apply([&](const auto&... each) { (visit(each), ...); }, Record::fields);
}

}  // namespace l2wg
